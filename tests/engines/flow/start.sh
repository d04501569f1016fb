#!/bin/sh
# The image's CMD: a web server on port 8080 of the container's own network namespace, that
# stops with status 0 on SIGTERM.
echo "starting $GREETING in $(pwd) as $(id -un)"
httpd -f -p 8080 -h /app/www &
trap 'kill $!; exit 0' TERM INT
wait

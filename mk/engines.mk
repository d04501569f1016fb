# End-to-end tests with real engines (tests/engines/): containerd 1.6 (ctr), podman 4.3 and
# Docker 20.10 each drive baleia in place of runc, and buildah 1.28 + podman build images with
# it and take them through a local docker-registry (buildah.sh); rootless podman, run by the
# non-root user `make rootless-user` makes, drives it too (podman-rootless.sh). `make test-engines` runs them
# all against baleia; `make test-engines-runc` runs the same scripts against runc, to show that
# a failure is baleia's and not the scripts'. One engine alone: `tests/engines/<engine>.sh`,
# with RUNTIME=/path/to/runtime.

ENGINES_DEB_PKGS := containerd podman conmon docker.io umoci skopeo busybox-static util-linux bsdutils buildah docker-registry
ENGINES := containerd podman docker buildah podman-rootless
# The non-root user of the rootless scenario (podman-rootless.sh), and where its subordinate
# ids start when it has none yet (useradd gives a new user a range of its own when
# /etc/subuid exists; this is for a user made before, or a machine without it).
ROOTLESS_USER ?= baleia-rootless
ROOTLESS_SUBIDS ?= 200000-265535
ENGINES_RUNC ?= /usr/sbin/runc

TEST_TARGETS += test-engines

.PHONY: deps-engines test-engines test-engines-runc rootless-user

# apt only when a package is missing. Installing docker.io or containerd on a machine without
# systemd would start the host's own daemons from their init scripts: a policy-rc.d that
# refuses is put in place for the install (unless the machine already has one).
deps-engines:
	@missing=$$(for p in $(ENGINES_DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
	    echo "deps-engines: installing" $$missing; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    ours=""; \
	    if [ ! -e /usr/sbin/policy-rc.d ]; then \
	        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && ours=1; \
	    fi; \
	    rc=0; apt-get update -q && apt-get install -y -q --no-install-recommends $$missing || rc=$$?; \
	    if [ -n "$$ours" ]; then rm -f /usr/sbin/policy-rc.d; fi; \
	    exit $$rc; \
	fi

# A real user with a home, its own group and 65536 subordinate uids and gids, as a fresh
# Debian machine's `adduser` would make one; a second run changes nothing.
rootless-user: deps-engines
	@id -u $(ROOTLESS_USER) >/dev/null 2>&1 || { \
	    echo "rootless-user: adding user $(ROOTLESS_USER)"; \
	    useradd --create-home --user-group --shell /bin/sh $(ROOTLESS_USER); }
	@touch /etc/subuid /etc/subgid
	@grep -q '^$(ROOTLESS_USER):' /etc/subuid || usermod --add-subuids $(ROOTLESS_SUBIDS) $(ROOTLESS_USER)
	@grep -q '^$(ROOTLESS_USER):' /etc/subgid || usermod --add-subgids $(ROOTLESS_SUBIDS) $(ROOTLESS_USER)
	@echo "rootless-user: $(ROOTLESS_USER) uid $$(id -u $(ROOTLESS_USER)), subuid $$(grep '^$(ROOTLESS_USER):' /etc/subuid), subgid $$(grep '^$(ROOTLESS_USER):' /etc/subgid)"

# Every engine runs even when one fails (each prints its own "N passed, N failed").
test-engines: deps-engines rootless-user build
	@rc=0; for e in $(ENGINES); do RUNTIME=$(BALEIA) tests/engines/$$e.sh || rc=1; done; exit $$rc

test-engines-runc: deps-engines rootless-user
	@rc=0; for e in $(ENGINES); do RUNTIME=$(ENGINES_RUNC) tests/engines/$$e.sh || rc=1; done; exit $$rc

/* The pod sandbox's process for `make test-cri` (built with gcc -static into the local pause
 * image): pid 1 of the pod's pid namespace, so it must reap the orphans that the pod's
 * containers leave behind and exit at once on SIGINT/SIGTERM (pid 1 gets no default
 * handlers: without ours the kubelet's stop would wait for its SIGKILL). */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig) {
    (void)sig;
    _exit(0);
}

static void on_child(int sig) {
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(void) {
    struct sigaction sa = {0};
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0) {
        perror("pause: sigaction SIGINT/SIGTERM");
        return 1;
    }
    sa.sa_handler = on_child;
    sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    if (sigaction(SIGCHLD, &sa, NULL) < 0) {
        perror("pause: sigaction SIGCHLD");
        return 1;
    }
    for (;;) {
        pause();
    }
}

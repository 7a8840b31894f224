/*
 * pause: the process that holds a Kubernetes pod's namespaces open, for the
 * `pause` image kubegym builds (kubegym/images/_pause.py compiles it with
 * `gcc -static -Os`; nothing can be pulled on the machines that run the real node).
 *
 * It does what Kubernetes' own pause does, written here from its behaviour:
 *   - it sleeps until a signal comes, forever;
 *   - SIGINT and SIGTERM end it with status 0 (the runtime stopping the pod);
 *   - as PID 1 of a pod that shares its PID namespace it inherits orphans, so
 *     SIGCHLD reaps every child that has exited (no zombies pile up);
 *   - `pause -v` prints its version and exits.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define VERSION "kubegym-pause 1"

static void say(const char *text) {
    /* write(2) only: this runs inside signal handlers too. */
    ssize_t ignored = write(STDERR_FILENO, text, strlen(text));
    (void)ignored;
}

static void stop(int signal_number) {
    say(signal_number == SIGINT ? "pause: SIGINT, exiting\n" : "pause: SIGTERM, exiting\n");
    _exit(0);
}

static void reap(int signal_number) {
    (void)signal_number;
    int saved = errno;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
        /* one exited child reaped per turn; SIGCHLDs may have merged */
    }
    errno = saved;
}

static int handle(int signal_number, void (*handler)(int), int flags) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    action.sa_flags = flags;
    sigemptyset(&action.sa_mask);
    return sigaction(signal_number, &action, NULL);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        say(VERSION "\n");
        return 0;
    }
    if (getpid() != 1) {
        say("pause: warning: not PID 1, so orphans of the pod are not reaped here\n");
    }
    if (handle(SIGINT, stop, 0) != 0 || handle(SIGTERM, stop, 0) != 0 ||
        handle(SIGCHLD, reap, SA_NOCLDSTOP | SA_RESTART) != 0) {
        say("pause: cannot install the signal handlers\n");
        return 1;
    }
    for (;;) {
        pause();
    }
}

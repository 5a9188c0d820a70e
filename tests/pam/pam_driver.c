/* pam_driver: drives real libpam for pam_roster's end-to-end tests
 * (tests/tests/pam_*.rs compile it with cc on first use).
 *
 * One process, one PAM handle, one thread of its own: so the tests can
 * count this process's threads before, during and after each call and
 * see exactly what the modules left behind.
 *
 *   pam_driver [--confdir DIR] [--rhost H] [--tty T] [--uid UID] [--silent]
 *              SERVICE USER STEP...
 *
 * --confdir   pam_start_confdir(DIR): the service file comes from DIR,
 *             never from /etc/pam.d (no pam_wrapper needed)
 * --uid       drop to UID (real and effective, no groups) before pam_start:
 *             a non-root caller such as a screen locker
 * STEP        auth | acct | setcred | open | close | chauthtok |
 *             chauthtok-expired (PAM_CHANGE_EXPIRED_AUTHTOK) |
 *             waitfile:PATH (wait up to 60 s for PATH to exist) |
 *             authtok (print whether PAM_AUTHTOK is set, never its value) |
 *             fdlist (print each open descriptor and what it points at)
 *
 * The conversation answers prompts with stdin's lines, in order (EOF:
 * PAM_CONV_ERR). Output, one line each, flushed at once:
 *   threads N                 this process's threads, before any step
 *   fds N                     its open descriptors, before any step
 *   prompt TEXT               a prompt the modules showed
 *   error TEXT / info TEXT    a message the modules showed
 *   step NAME CODE ms=T threads=N fds=F   a step's PAM code, duration,
 *                             and the threads and descriptors left when it
 *                             returned
 * Exit status: 0 when every step ran (whatever their codes), 2 usage.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <grp.h>
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int count_entries(const char *path) {
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *e;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static int count_threads(void) { return count_entries("/proc/self/task"); }

/* Open descriptors, not counting the one opendir holds while counting. */
static int count_fds(void) { return count_entries("/proc/self/fd") - 1; }

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void one_line(const char *kind, const char *text) {
    /* Keep each message on one output line. */
    printf("%s ", kind);
    for (const char *p = text ? text : ""; *p; p++)
        putchar(*p == '\n' ? ' ' : *p);
    putchar('\n');
}

static int conversation(int n, const struct pam_message **msg, struct pam_response **resp,
                        void *data) {
    (void)data;
    struct pam_response *r = calloc((size_t)n, sizeof *r);
    if (!r)
        return PAM_BUF_ERR;
    for (int i = 0; i < n; i++) {
        switch (msg[i]->msg_style) {
        case PAM_PROMPT_ECHO_OFF:
        case PAM_PROMPT_ECHO_ON: {
            one_line("prompt", msg[i]->msg);
            char *line = NULL;
            size_t cap = 0;
            ssize_t len = getline(&line, &cap, stdin);
            if (len < 0) {
                free(line);
                for (int j = 0; j < i; j++)
                    free(r[j].resp);
                free(r);
                return PAM_CONV_ERR;
            }
            if (len > 0 && line[len - 1] == '\n')
                line[len - 1] = '\0';
            r[i].resp = line;
            break;
        }
        case PAM_ERROR_MSG:
            one_line("error", msg[i]->msg);
            break;
        case PAM_TEXT_INFO:
            one_line("info", msg[i]->msg);
            break;
        default:
            break;
        }
    }
    *resp = r;
    return PAM_SUCCESS;
}

static int usage(void) {
    fprintf(stderr, "usage: pam_driver [--confdir DIR] [--rhost H] [--tty T] [--uid UID] "
                    "[--silent] SERVICE USER STEP...\n");
    return 2;
}

int main(int argc, char **argv) {
    const char *confdir = NULL, *rhost = NULL, *tty = NULL;
    long uid = -1;
    int flags = 0, i = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (!strcmp(argv[i], "--silent")) {
            flags |= PAM_SILENT;
            continue;
        }
        if (i + 1 >= argc)
            return usage();
        if (!strcmp(argv[i], "--confdir"))
            confdir = argv[++i];
        else if (!strcmp(argv[i], "--rhost"))
            rhost = argv[++i];
        else if (!strcmp(argv[i], "--tty"))
            tty = argv[++i];
        else if (!strcmp(argv[i], "--uid"))
            uid = strtol(argv[++i], NULL, 10);
        else
            return usage();
    }
    if (argc - i < 2)
        return usage();
    const char *service = argv[i++], *user = argv[i++];

    if (uid >= 0) {
        if (setgroups(0, NULL) != 0 || setresgid((gid_t)uid, (gid_t)uid, (gid_t)uid) != 0 ||
            setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) != 0) {
            perror("dropping to --uid");
            return 2;
        }
    }

    struct pam_conv conv = {conversation, NULL};
    pam_handle_t *pamh = NULL;
    int rc = confdir ? pam_start_confdir(service, user, &conv, confdir, &pamh)
                     : pam_start(service, user, &conv, &pamh);
    if (rc != PAM_SUCCESS) {
        fprintf(stderr, "pam_start: %d\n", rc);
        return 2;
    }
    if (rhost)
        pam_set_item(pamh, PAM_RHOST, rhost);
    if (tty)
        pam_set_item(pamh, PAM_TTY, tty);

    printf("threads %d\n", count_threads());
    printf("fds %d\n", count_fds());
    int last = PAM_SUCCESS;
    for (; i < argc; i++) {
        const char *step = argv[i];
        double t0 = now_ms();
        if (!strcmp(step, "auth"))
            rc = pam_authenticate(pamh, flags);
        else if (!strcmp(step, "acct"))
            rc = pam_acct_mgmt(pamh, flags);
        else if (!strcmp(step, "setcred"))
            rc = pam_setcred(pamh, flags | PAM_ESTABLISH_CRED);
        else if (!strcmp(step, "open"))
            rc = pam_open_session(pamh, flags);
        else if (!strcmp(step, "close"))
            rc = pam_close_session(pamh, flags);
        else if (!strcmp(step, "chauthtok"))
            rc = pam_chauthtok(pamh, flags);
        else if (!strcmp(step, "chauthtok-expired"))
            rc = pam_chauthtok(pamh, flags | PAM_CHANGE_EXPIRED_AUTHTOK);
        else if (!strcmp(step, "fdlist")) {
            DIR *d = opendir("/proc/self/fd");
            struct dirent *e;
            while (d && (e = readdir(d)) != NULL) {
                char path[300], target[300];
                if (e->d_name[0] == '.')
                    continue;
                snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
                ssize_t n = readlink(path, target, sizeof target - 1);
                target[n > 0 ? n : 0] = '\0';
                printf("fd %s %s\n", e->d_name, target);
            }
            if (d)
                closedir(d);
            continue;
        } else if (!strcmp(step, "authtok")) {
            const void *item = NULL;
            rc = pam_get_item(pamh, PAM_AUTHTOK, &item);
            printf("authtok %s\n", item ? "set" : "unset");
            continue;
        } else if (!strncmp(step, "waitfile:", 9)) {
            struct stat st;
            for (int tries = 0; tries < 6000 && stat(step + 9, &st) != 0; tries++)
                usleep(10000);
            continue;
        } else {
            fprintf(stderr, "unknown step %s\n", step);
            pam_end(pamh, PAM_ABORT);
            return 2;
        }
        double took = now_ms() - t0;
        printf("step %s %d ms=%.3f threads=%d fds=%d\n", step, rc, took, count_threads(),
               count_fds());
        last = rc;
    }
    pam_end(pamh, last);
    return 0;
}

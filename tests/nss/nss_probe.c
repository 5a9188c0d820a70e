/* nss_probe: the C side of libnss_roster's tests (nss-module/tests/).
 *
 * Runs lookups the way real programs do, through glibc's own API (so
 * glibc's dispatch, ERANGE retry and fork handling are what is tested),
 * or, in "direct" mode, dlopen()s the module and calls its exports so
 * the exact nss_status and *errnop can be checked.
 *
 *   nss_probe tiny NAME            getpwnam_r with a 1-byte buffer, then growing: must see ERANGE first
 *   nss_probe tinygr NAME          the same with getgrnam_r
 *   nss_probe fork NAME UID ROUNDS look up before fork, then in parent and child
 *   nss_probe hammer SECS THREADS PREFIX COUNT
 *                                  THREADS threads look up PREFIX<i> by name and uid for SECS seconds and
 *                                  check every answer is whole (see snapshot/examples/gen.rs: the fields of
 *                                  one user all carry the same variant v0/v1); prints "ok N v0=A v1=B"
 *   nss_probe enumcheck ROUNDS     ROUNDS enumerations (getpwent, a short pause per entry) of ruser<i>
 *                                  entries: each must be whole and all of one variant (one snapshot)
 *   nss_probe direct SO pwnam NAME BUFLEN | pwuid UID BUFLEN | grnam NAME BUFLEN | grgid GID BUFLEN
 *                   | initgroups NAME PRIMARY SIZE LIMIT | pwent BUFLEN | grent BUFLEN
 *                   | loop NAME UID COUNT BUFLEN
 *                                  prints "status=S errno=E" and the answer; loop: one getpwnam_r
 *                                  (maps the snapshot), then COUNT getpwnam_r + getpwuid_r between two
 *                                  getppid() system calls (markers for strace), prints "bad=N"
 *
 * Exit status: 0 ok, 1 a check failed, 2 usage / not found.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define UID_BASE 0x70000001u

static int usage(void) {
    fprintf(stderr, "usage: see the comment at the top of nss_probe.c\n");
    return 2;
}

static void print_pw(const struct passwd *p) {
    printf("%s:%s:%u:%u:%s:%s:%s\n", p->pw_name, p->pw_passwd, p->pw_uid, p->pw_gid, p->pw_gecos,
           p->pw_dir, p->pw_shell);
}

static void print_gr(const struct group *g) {
    printf("%s:%s:%u:", g->gr_name, g->gr_passwd, g->gr_gid);
    for (char **m = g->gr_mem; *m; m++) printf("%s%s", m == g->gr_mem ? "" : ",", *m);
    printf("\n");
}

static int tiny(const char *name, int group) {
    int saw_erange = 0;
    for (size_t len = 1; len <= 1 << 20; len *= 2) {
        char *buf = malloc(len);
        struct passwd pw, *pr = NULL;
        struct group gr, *gres = NULL;
        int rc = group ? getgrnam_r(name, &gr, buf, len, &gres) : getpwnam_r(name, &pw, buf, len, &pr);
        if (rc == ERANGE) {
            saw_erange++;
            free(buf);
            continue;
        }
        if (rc != 0 || (group ? gres == NULL : pr == NULL)) {
            printf("rc=%d (%s) after %d ERANGE\n", rc, strerror(rc), saw_erange);
            free(buf);
            return 1;
        }
        printf("erange=%d buflen=%zu\n", saw_erange, len);
        if (group) print_gr(gres); else print_pw(pr);
        free(buf);
        return saw_erange > 0 ? 0 : 1;
    }
    return 1;
}

static int check_user(const char *name, uid_t uid) {
    struct passwd pw, *r = NULL;
    char buf[4096];
    if (getpwnam_r(name, &pw, buf, sizeof buf, &r) != 0 || !r || pw.pw_uid != uid) return 0;
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &r) != 0 || !r || strcmp(pw.pw_name, name) != 0) return 0;
    return 1;
}

static int do_fork(const char *name, uid_t uid, int rounds) {
    if (!check_user(name, uid)) {
        printf("lookup before fork failed\n");
        return 1;
    }
    pid_t pid = fork();
    if (pid < 0) return 1;
    int bad = 0;
    for (int i = 0; i < rounds; i++) bad += !check_user(name, uid);
    if (pid == 0) _exit(bad ? 1 : 0);
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) return 1;
    int child_ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    printf("parent_bad=%d child_ok=%d\n", bad, child_ok);
    return (bad == 0 && child_ok) ? 0 : 1;
}

static struct {
    double secs;
    const char *prefix;
    unsigned count;
} H;
static atomic_long h_ok, h_bad, h_v[2], h_missing;

/* A whole answer: uid/name agree, and gecos, home and shell all carry the
 * same variant (gen.rs writes "Roster User I vV", "/home/vV/NAME",
 * /bin/bash for v0 and /bin/sh for v1). */
static int whole(const struct passwd *p, unsigned i, const char *name) {
    char gecos[128], home[256];
    if (strcmp(p->pw_name, name) != 0 || p->pw_uid != UID_BASE + i || p->pw_gid != UID_BASE + i) return -1;
    if (strcmp(p->pw_passwd, "*") != 0) return -1;
    for (int v = 0; v < 2; v++) {
        snprintf(gecos, sizeof gecos, "Roster User %u v%d", i, v);
        snprintf(home, sizeof home, "/home/v%d/%s", v, name);
        if (strcmp(p->pw_gecos, gecos) == 0 && strcmp(p->pw_dir, home) == 0 &&
            strcmp(p->pw_shell, v == 0 ? "/bin/bash" : "/bin/sh") == 0)
            return v;
    }
    return -1;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void *hammer_thread(void *arg) {
    unsigned seed = (unsigned)(size_t)arg * 2654435761u + 1;
    double end = now() + H.secs;
    char name[64], buf[2048];
    while (now() < end) {
        unsigned i = rand_r(&seed) % H.count;
        snprintf(name, sizeof name, "%s%u", H.prefix, i);
        struct passwd pw, *r = NULL;
        int rc = (seed & 1) ? getpwnam_r(name, &pw, buf, sizeof buf, &r)
                            : getpwuid_r(UID_BASE + i, &pw, buf, sizeof buf, &r);
        if (rc != 0 || r == NULL) {
            atomic_fetch_add(&h_missing, 1);
            continue;
        }
        int v = whole(&pw, i, name);
        if (v < 0) {
            if (atomic_fetch_add(&h_bad, 1) < 5) {
                printf("torn or wrong answer: ");
                print_pw(&pw);
            }
        } else {
            atomic_fetch_add(&h_v[v], 1);
            atomic_fetch_add(&h_ok, 1);
        }
    }
    return NULL;
}

static int hammer(double secs, int threads, const char *prefix, unsigned count) {
    H.secs = secs;
    H.prefix = prefix;
    H.count = count;
    pthread_t t[256];
    if (threads < 1 || threads > 256 || count == 0) return usage();
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, hammer_thread, (void *)(size_t)i);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    printf("ok=%ld bad=%ld missing=%ld v0=%ld v1=%ld\n", atomic_load(&h_ok), atomic_load(&h_bad),
           atomic_load(&h_missing), atomic_load(&h_v[0]), atomic_load(&h_v[1]));
    return (atomic_load(&h_bad) == 0 && atomic_load(&h_missing) == 0 && atomic_load(&h_ok) > 0) ? 0 : 1;
}

typedef int (*pwnam_fn)(const char *, struct passwd *, char *, size_t, int *);
typedef int (*pwuid_fn)(uid_t, struct passwd *, char *, size_t, int *);
typedef int (*grnam_fn)(const char *, struct group *, char *, size_t, int *);
typedef int (*grgid_fn)(gid_t, struct group *, char *, size_t, int *);
typedef int (*pwent_fn)(struct passwd *, char *, size_t, int *);
typedef int (*grent_fn)(struct group *, char *, size_t, int *);
typedef int (*setent_fn)(int);
typedef int (*initgroups_fn)(const char *, gid_t, long *, long *, gid_t **, long, int *);

static void *sym(void *h, const char *name) {
    void *f = dlsym(h, name);
    if (!f) {
        fprintf(stderr, "missing export %s\n", name);
        exit(1);
    }
    return f;
}

static int direct(int argc, char **argv) {
    if (argc < 4) return usage();
    void *h = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    const char *op = argv[3];
    int err = 0, st;
    struct passwd pw;
    struct group gr;
    if (!strcmp(op, "initgroups") && argc == 8) {
        long start = 1, size = atol(argv[6]), limit = atol(argv[7]);
        gid_t *groups = malloc(sizeof(gid_t) * (size > 0 ? size : 1));
        groups[0] = (gid_t)strtoul(argv[5], NULL, 10);
        st = ((initgroups_fn)sym(h, "_nss_roster_initgroups_dyn"))(argv[4], groups[0], &start, &size, &groups,
                                                                  limit, &err);
        printf("status=%d errno=%d start=%ld size=%ld gids=", st, err, start, size);
        for (long i = 0; i < start; i++) printf("%s%u", i ? "," : "", groups[i]);
        printf("\n");
        free(groups);
        return 0;
    }
    size_t len = (size_t)atol(argv[argc - 1]);
    char *buf = len ? malloc(len) : NULL;
    if (!strcmp(op, "loop") && argc == 8) {
        pwnam_fn nam = (pwnam_fn)sym(h, "_nss_roster_getpwnam_r");
        pwuid_fn byuid = (pwuid_fn)sym(h, "_nss_roster_getpwuid_r");
        uid_t uid = (uid_t)strtoul(argv[5], NULL, 10);
        long count = atol(argv[6]), bad = 0;
        st = nam(argv[4], &pw, buf, len, &err);
        if (st != 1) {
            printf("status=%d errno=%d\n", st, err);
            return 0;
        }
        syscall(SYS_getppid);
        for (long i = 0; i < count; i++) {
            if (nam(argv[4], &pw, buf, len, &err) != 1 || pw.pw_uid != uid) bad++;
            if (byuid(uid, &pw, buf, len, &err) != 1 || strcmp(pw.pw_name, argv[4]) != 0) bad++;
        }
        syscall(SYS_getppid);
        printf("status=1 errno=0 bad=%ld\n", bad);
        free(buf);
        return 0;
    }
    if (!strcmp(op, "pwnam") && argc == 6) {
        st = ((pwnam_fn)sym(h, "_nss_roster_getpwnam_r"))(argv[4], &pw, buf, len, &err);
    } else if (!strcmp(op, "pwuid") && argc == 6) {
        st = ((pwuid_fn)sym(h, "_nss_roster_getpwuid_r"))((uid_t)strtoul(argv[4], NULL, 10), &pw, buf, len, &err);
    } else if (!strcmp(op, "grnam") && argc == 6) {
        st = ((grnam_fn)sym(h, "_nss_roster_getgrnam_r"))(argv[4], &gr, buf, len, &err);
    } else if (!strcmp(op, "grgid") && argc == 6) {
        st = ((grgid_fn)sym(h, "_nss_roster_getgrgid_r"))((gid_t)strtoul(argv[4], NULL, 10), &gr, buf, len, &err);
    } else if (!strcmp(op, "pwent") && argc == 5) {
        ((setent_fn)sym(h, "_nss_roster_setpwent"))(0);
        long n = 0;
        while ((st = ((pwent_fn)sym(h, "_nss_roster_getpwent_r"))(&pw, buf, len, &err)) == 1) n++;
        ((setent_fn)sym(h, "_nss_roster_endpwent"))(0);
        printf("status=%d errno=%d count=%ld\n", st, err, n);
        return 0;
    } else if (!strcmp(op, "grent") && argc == 5) {
        ((setent_fn)sym(h, "_nss_roster_setgrent"))(0);
        long n = 0;
        while ((st = ((grent_fn)sym(h, "_nss_roster_getgrent_r"))(&gr, buf, len, &err)) == 1) n++;
        ((setent_fn)sym(h, "_nss_roster_endgrent"))(0);
        printf("status=%d errno=%d count=%ld\n", st, err, n);
        return 0;
    } else {
        return usage();
    }
    printf("status=%d errno=%d\n", st, err);
    if (st == 1) {
        if (op[0] == 'p') print_pw(&pw); else print_gr(&gr);
    }
    free(buf);
    return 0;
}

static int enumcheck(int rounds) {
    int seen[2] = {0, 0};
    for (int r = 0; r < rounds; r++) {
        int variant = -1;
        long n = 0;
        setpwent();
        struct passwd *p;
        while ((p = getpwent())) {
            unsigned i;
            if (sscanf(p->pw_name, "ruser%u", &i) != 1) continue;
            int v = whole(p, i, p->pw_name);
            if (v < 0 || (variant >= 0 && v != variant)) {
                printf("round %d entry %ld mixes snapshots: ", r, n);
                print_pw(p);
                endpwent();
                return 1;
            }
            variant = v;
            n++;
            usleep(50);
        }
        endpwent();
        if (variant >= 0) seen[variant]++;
    }
    printf("rounds=%d v0=%d v1=%d\n", rounds, seen[0], seen[1]);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) return usage();
    if (!strcmp(argv[1], "tiny") && argc == 3) return tiny(argv[2], 0);
    if (!strcmp(argv[1], "tinygr") && argc == 3) return tiny(argv[2], 1);
    if (!strcmp(argv[1], "fork") && argc == 5) return do_fork(argv[2], (uid_t)strtoul(argv[3], NULL, 10), atoi(argv[4]));
    if (!strcmp(argv[1], "hammer") && argc == 6) return hammer(atof(argv[2]), atoi(argv[3]), argv[4], (unsigned)atoi(argv[5]));
    if (!strcmp(argv[1], "enumcheck") && argc == 3) return enumcheck(atoi(argv[2]));
    if (!strcmp(argv[1], "direct")) return direct(argc, argv);
    return usage();
}

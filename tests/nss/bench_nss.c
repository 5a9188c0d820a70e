/* bench_nss: timing for scripts/bench-nss.sh. Goes through glibc's
 * getpwnam/getpwuid, so whatever /etc/nsswitch.conf says is measured.
 *
 *   bench_nss loop PREFIX COUNT ITER   one warm-up lookup, then ITER getpwnam and ITER getpwuid of
 *                                      users PREFIX<i> (i uniform at random over COUNT, fixed seed);
 *                                      prints "nam_us=MEDIAN uid_us=MEDIAN"
 *   bench_nss first NAME               the process's first getpwnam; prints "first_us=T first_cpu_us=C"
 *                                      (C: on the thread's CPU clock)
 *   bench_nss enum                     setpwent/getpwent to the end; prints
 *                                      "enum_ms=T entries=N enum_cpu_ms=C"
 *   bench_nss warm PREFIX [FROM] TO    getpwnam of every PREFIX<i>, FROM <= i < TO, once (fills a
 *                                      cache such as SSSD's); prints "warm_ms=T"
 *   bench_nss rounds PREFIX COUNT ROUNDS CALLS SEED
 *                                      one warm-up lookup, then ROUNDS rounds of CALLS getpwnam and
 *                                      CALLS getpwuid of random users (a draw of their own: the
 *                                      getpwuid calls don't look up the users just looked up by
 *                                      name, whose records would still be in the caches; names
 *                                      made before the clock starts), each round timed as a whole
 *                                      on the thread's CPU clock (time spent waiting for a CPU on a
 *                                      busy machine is not counted); prints "nam_ns=R1,R2,... uid_ns=R1,R2,..." (ns per
 *                                      call per round); with COUNT 24 on a file of any size, the
 *                                      same 24 users at every size (a working set that stays in
 *                                      the caches: the lookup itself, without the memory's share)
 *   bench_nss chase BYTES              the memory-latency floor under a lookup: a pointer chase
 *                                      (one dependent load at a time, each to a random 64-byte
 *                                      line) over BYTES of memory, timed on the thread's CPU
 *                                      clock; prints "chase_ns=A chase_huge_ns=B": ns per
 *                                      dependent load on 4 KiB pages (as a mapped file gets) and
 *                                      on 2 MiB pages where the kernel grants them (the TLB's
 *                                      share is the difference)
 *   bench_nss load SO [NAME]           dlopen(SO) alone, in a fresh process; prints
 *                                      "load_us=T load_cpu_us=C"; with NAME, then the module's first
 *                                      _nss_roster_getpwnam_r(NAME) called directly (finding and
 *                                      mapping the snapshot, the first faults) too: "call_cpu_us=C"
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define UID_BASE 0x70000001u

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static double cpu_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ns per dependent load: a random cyclic permutation of the buffer's
 * 64-byte lines (Sattolo's algorithm), each line holding the address of
 * the next, walked once to fault it in and settle the caches, then timed.
 * Returns a negative value when the memory can't be had. */
static double chase(size_t bytes, int advice) {
    size_t lines = bytes / 64;
    if (lines < 2) return -1;
    char *buf = mmap(NULL, lines * 64, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) return -1;
    madvise(buf, lines * 64, advice);
    size_t *order = malloc(sizeof(size_t) * lines);
    if (!order) return -1;
    for (size_t i = 0; i < lines; i++) order[i] = i;
    uint64_t x = 88172645463325252ull;
    for (size_t i = lines - 1; i > 0; i--) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t j = x % i, t = order[i];
        order[i] = order[j], order[j] = t;
    }
    for (size_t i = 0; i < lines; i++) *(void **)(buf + order[i] * 64) = buf + order[(i + 1) % lines] * 64;
    free(order);
    void **p = (void **)buf;
    for (size_t i = 0; i < lines; i++) p = *p;
    size_t steps = lines < 2000000 ? 2000000 : lines;
    double c0 = cpu_us();
    for (size_t i = 0; i < steps; i++) p = *p;
    double c1 = cpu_us();
    /* Keep the walk from being optimised away. */
    if (p == NULL) printf("?");
    munmap(buf, lines * 64);
    return (c1 - c0) * 1e3 / steps;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "chase")) {
        size_t bytes = strtoull(argv[2], NULL, 10);
        printf("chase_ns=%.1f chase_huge_ns=%.1f\n", chase(bytes, MADV_NOHUGEPAGE), chase(bytes, MADV_HUGEPAGE));
        return 0;
    }
    if ((argc == 3 || argc == 4) && !strcmp(argv[1], "load")) {
        double c0 = cpu_us(), t0 = now_us();
        void *h = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
        double t1 = now_us(), c1 = cpu_us();
        if (!h) {
            fprintf(stderr, "dlopen %s: %s\n", argv[2], dlerror());
            return 1;
        }
        printf("load_us=%.1f load_cpu_us=%.1f", t1 - t0, c1 - c0);
        if (argc == 4) {
            typedef int (*getpwnam_r_fn)(const char *, struct passwd *, char *, size_t, int *);
            static char buf[4096];
            struct passwd pwd;
            int err = 0;
            double c2 = cpu_us();
            getpwnam_r_fn f = (getpwnam_r_fn)dlsym(h, "_nss_roster_getpwnam_r");
            int status = f ? f(argv[3], &pwd, buf, sizeof buf, &err) : -99;
            double c3 = cpu_us();
            if (status != 1) {
                fprintf(stderr, "\n_nss_roster_getpwnam_r(%s): status %d errno %d\n", argv[3], status, err);
                return 1;
            }
            printf(" call_cpu_us=%.1f", c3 - c2);
        }
        printf("\n");
        return 0;
    }
    if (argc == 5 && !strcmp(argv[1], "loop")) {
        const char *prefix = argv[2];
        unsigned count = (unsigned)atoi(argv[3]);
        int iter = atoi(argv[4]);
        double *nam = malloc(sizeof(double) * iter), *uid = malloc(sizeof(double) * iter);
        char name[64];
        unsigned seed = 12345;
        snprintf(name, sizeof name, "%s0", prefix);
        if (!getpwnam(name)) {
            fprintf(stderr, "%s not found\n", name);
            return 1;
        }
        for (int k = 0; k < iter; k++) {
            unsigned i = rand_r(&seed) % count;
            snprintf(name, sizeof name, "%s%u", prefix, i);
            double t0 = now_us();
            struct passwd *p = getpwnam(name);
            double t1 = now_us();
            if (!p || p->pw_uid != UID_BASE + i) {
                fprintf(stderr, "getpwnam(%s) wrong\n", name);
                return 1;
            }
            nam[k] = t1 - t0;
            t0 = now_us();
            p = getpwuid(UID_BASE + i);
            t1 = now_us();
            if (!p || strcmp(p->pw_name, name) != 0) {
                fprintf(stderr, "getpwuid(%u) wrong\n", UID_BASE + i);
                return 1;
            }
            uid[k] = t1 - t0;
        }
        printf("nam_us=%.2f uid_us=%.2f\n", median(nam, iter), median(uid, iter));
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "first")) {
        double c0 = cpu_us(), t0 = now_us();
        struct passwd *p = getpwnam(argv[2]);
        double t1 = now_us(), c1 = cpu_us();
        if (!p) {
            fprintf(stderr, "%s not found\n", argv[2]);
            return 1;
        }
        printf("first_us=%.1f first_cpu_us=%.1f\n", t1 - t0, c1 - c0);
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "enum")) {
        long n = 0;
        double c0 = cpu_us(), t0 = now_us();
        setpwent();
        while (getpwent()) n++;
        endpwent();
        double t1 = now_us(), c1 = cpu_us();
        printf("enum_ms=%.2f entries=%ld enum_cpu_ms=%.2f\n", (t1 - t0) / 1e3, n, (c1 - c0) / 1e3);
        return 0;
    }
    if ((argc == 4 || argc == 5) && !strcmp(argv[1], "warm")) {
        unsigned from = argc == 5 ? (unsigned)atoi(argv[3]) : 0;
        unsigned to = (unsigned)atoi(argv[argc - 1]);
        char name[64];
        double t0 = now_us();
        for (unsigned i = from; i < to; i++) {
            snprintf(name, sizeof name, "%s%u", argv[2], i);
            struct passwd *p = getpwnam(name);
            if (!p || p->pw_uid != UID_BASE + i) {
                fprintf(stderr, "warm: getpwnam(%s) wrong\n", name);
                return 1;
            }
        }
        printf("warm_ms=%.1f\n", (now_us() - t0) / 1e3);
        return 0;
    }
    if (argc == 7 && !strcmp(argv[1], "rounds")) {
        const char *prefix = argv[2];
        unsigned count = (unsigned)atoi(argv[3]);
        int rounds = atoi(argv[4]), calls = atoi(argv[5]);
        unsigned seed = (unsigned)atoi(argv[6]);
        if (count == 0 || rounds <= 0 || calls <= 0) return 2;
        char(*names)[32] = malloc(sizeof(*names) * calls);
        unsigned *ids = malloc(sizeof(unsigned) * calls), *uids = malloc(sizeof(unsigned) * calls);
        double *nam = malloc(sizeof(double) * rounds), *uid = malloc(sizeof(double) * rounds);
        snprintf(names[0], sizeof names[0], "%s0", prefix);
        if (!getpwnam(names[0])) {
            fprintf(stderr, "%s not found\n", names[0]);
            return 1;
        }
        for (int r = 0; r < rounds; r++) {
            for (int k = 0; k < calls; k++) {
                ids[k] = rand_r(&seed) % count;
                snprintf(names[k], sizeof names[k], "%s%u", prefix, ids[k]);
                /* A draw of its own: the same users would find their
                 * records still in the caches from their getpwnam. */
                uids[k] = rand_r(&seed) % count;
            }
            int wrong = 0;
            double t0 = cpu_us();
            for (int k = 0; k < calls; k++) {
                struct passwd *p = getpwnam(names[k]);
                wrong |= !p || p->pw_uid != UID_BASE + ids[k];
            }
            double t1 = cpu_us();
            for (int k = 0; k < calls; k++) {
                struct passwd *p = getpwuid(UID_BASE + uids[k]);
                wrong |= !p || p->pw_uid != UID_BASE + uids[k];
            }
            double t2 = cpu_us();
            if (wrong) {
                fprintf(stderr, "rounds: a lookup of round %d was wrong\n", r);
                return 1;
            }
            nam[r] = (t1 - t0) * 1e3 / calls;
            uid[r] = (t2 - t1) * 1e3 / calls;
        }
        printf("nam_ns=");
        for (int r = 0; r < rounds; r++) printf("%s%.0f", r ? "," : "", nam[r]);
        printf(" uid_ns=");
        for (int r = 0; r < rounds; r++) printf("%s%.0f", r ? "," : "", uid[r]);
        printf("\n");
        return 0;
    }
    fprintf(stderr, "usage: see the comment at the top of bench_nss.c\n");
    return 2;
}

/* panic_probe SO: loads a libnss_roster.so built with --features
 * panic-probe into a process that has no libgcc_s, calls
 * _nss_roster_panic_probe (which panics inside the guard every lookup
 * uses) and prints what came back and whether libgcc_s got loaded.
 * A panic that escapes kills this process (abort) instead. */
#include <dlfcn.h>
#include <stdio.h>

static int gcc_s_loaded(void) {
    return dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_NOLOAD) != NULL;
}

int main(int argc, char **argv) {
    if (argc != 2)
        return 2;
    if (gcc_s_loaded()) {
        puts("libgcc_s is loaded before the module");
        return 3;
    }
    void *so = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!so) {
        printf("dlopen: %s\n", dlerror());
        return 4;
    }
    int (*probe)(int *) = (int (*)(int *))dlsym(so, "_nss_roster_panic_probe");
    if (!probe) {
        puts("no _nss_roster_panic_probe (build with --features panic-probe)");
        return 5;
    }
    int err = 0;
    int status = probe(&err);
    printf("status=%d errno=%d libgcc_s=%d\n", status, err, gcc_s_loaded());
    return 0;
}

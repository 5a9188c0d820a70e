/* yescrypt: prints a yescrypt hash of argv[1] with libcrypt's default
 * cost (Debian 12's default for new passwords), for scripts/bench-pam.sh. */
#include <crypt.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 2)
        return 2;
    const char *setting = crypt_gensalt("$y$", 0, NULL, 0);
    const char *hash = setting ? crypt(argv[1], setting) : NULL;
    if (!hash || hash[0] == '*')
        return 1;
    puts(hash);
    return 0;
}

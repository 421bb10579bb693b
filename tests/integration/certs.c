/* certs.c - the agent tests' certificates, by the openssl CLI (certs.h). */
#include "certs.h"

#include <stdio.h>
#include <stdlib.h>

int certs_make(const char *dir) {
    /* P-256 keys: made in milliseconds, unlike RSA */
    static const char script[] =
        "set -e; cd \"$1\"; exec 2>openssl.log >&2\n"
        "key='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
        "for ca in ca rogue; do\n"
        "  openssl req -x509 $key -keyout $ca.key -out $ca.pem -days 2 -subj /CN=test-$ca \\\n"
        "    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign\n"
        "done\n"
        "openssl req $key -keyout agent.key -out agent.csr -subj /CN=migrate-agent\n"
        "printf 'subjectAltName=IP:127.0.0.1,IP:127.0.0.11,IP:127.0.0.12,DNS:localhost\\n"
        "extendedKeyUsage=serverAuth,clientAuth\\n' >agent.ext\n"
        "openssl x509 -req -in agent.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out agent.crt -days 2 "
        "-extfile agent.ext\n"
        "cat agent.crt agent.key >agent.pem\n";
    /* the script goes through a file: no quoting of it in a command line */
    char path[512], cmd[1100];
    snprintf(path, sizeof path, "%s/certs.sh", dir);
    FILE *f = fopen(path, "w");
    if (f == NULL) return -1;
    fputs(script, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "sh '%s' '%s'", path, dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* certs.h - a test CA and an agent certificate made with the openssl CLI, for the https
 * tests of the agent (test_agent_tls.c, test_agent_system.c). */
#ifndef MIG_TEST_CERTS_H
#define MIG_TEST_CERTS_H

/* Writes into `dir`: ca.pem (a CA), rogue.pem (another CA, trusted by nobody),
 * agent.pem (certificate and key of an agent signed by ca.pem, for IP 127.0.0.1,
 * 127.0.0.11, 127.0.0.12 and localhost, server and client use), agent.crt and agent.key
 * (the same, apart). Returns 0, or -1 when openssl failed (its words in dir/openssl.log). */
int certs_make(const char *dir);

#endif

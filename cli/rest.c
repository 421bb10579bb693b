/* rest.c - REST calls of migratectl with libcurl. */
#include "cli/rest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "core/err.h"

/* Collects the body; answering less than was given makes curl stop the transfer. */
static size_t on_body(char *p, size_t size, size_t nmemb, void *ud) {
    rest_answer_t *a = ud;
    size_t n = size * nmemb;
    if (a->len + n > (size_t)REST_BODY_MAX) return 0;
    char *g = realloc(a->body, a->len + n + 1);
    if (g == NULL) return 0;
    memcpy(g + a->len, p, n);
    a->body = g;
    a->len += n;
    g[a->len] = '\0';
    return n;
}

int rest_call(const char *base, const char *token, const char *method, const char *path, const char *body,
              rest_answer_t *a) {
    int rv = MIG_ENOMEM;
    memset(a, 0, sizeof *a);
    struct curl_slist *h = NULL, *hh;
    char *url = NULL, *auth = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *c = curl_easy_init();
    size_t ul = strlen(base) + strlen(path) + 1;
    if (c == NULL || (url = malloc(ul)) == NULL || (a->body = calloc(1, 1)) == NULL) goto out;
    snprintf(url, ul, "%s%s", base, path);
    if ((hh = curl_slist_append(h, "Accept: application/json")) == NULL) goto out;
    h = hh;
    if (token && token[0]) {
        size_t al = strlen(token) + 32;
        if ((auth = malloc(al)) == NULL) goto out;
        snprintf(auth, al, "Authorization: Bearer %s", token);
        if ((hh = curl_slist_append(h, auth)) == NULL) goto out;
        h = hh;
    }
    if (body) {
        if ((hh = curl_slist_append(h, "Content-Type: application/json")) == NULL) goto out;
        h = hh;
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    /* a POST without a body (approve, cancel) sends Content-Length: 0, and no form
     * Content-Type, which curl would otherwise add for it */
    if (body == NULL && strcmp(method, "POST") == 0) {
        if ((hh = curl_slist_append(h, "Content-Type:")) == NULL) goto out;
        h = hh;
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "migratectl");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, REST_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, REST_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    /* the API never redirects; following one would resend the token elsewhere */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        snprintf(a->err, sizeof a->err, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
        rv = MIG_EUNREACHABLE;
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    rv = 0;
out:
    if (rv == MIG_ENOMEM) snprintf(a->err, sizeof a->err, "out of memory");
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(url);
    free(auth);
    return rv;
}

void rest_answer_free(rest_answer_t *a) {
    free(a->body);
    a->body = NULL;
    a->len = 0;
}

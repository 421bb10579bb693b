/* httpd.c - the simulator's request helpers: routing, JSON bodies and answers, errors. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/httpbody.h"
#include "core/jsonbody.h"
#include "sim/sim.h"

#define BODY_MAX (64 * 1024) /* largest request body, bytes: the contract's are tiny */

bool httpd_route(sim_req_t *r, const char *method, const char *pattern) {
    return strcmp(r->method, method) == 0 && path_match(pattern, r->path, r->params, ROUTE_PARAMS_MAX);
}

void httpd_reply(sim_req_t *r, int status, cJSON *body) {
    cJSON_Delete(r->reply);
    r->reply = body;
    r->status = status;
}

void httpd_error(sim_req_t *r, int status, const char *code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    httpd_reply(r, status, httpbody_error(code, msg));
}

void httpd_model_error(sim_req_t *r, const model_t *m, int rv) {
    int status = 500;
    switch (rv) {
    case MIG_EINVALID: status = 400; break;
    case MIG_ENO_SERVER:
    case MIG_ENO_NODE:
    case MIG_ENOT_FOUND: status = 404; break;
    case MIG_EEXISTS:
    case MIG_EILLEGAL: status = 409; break;
    case MIG_EREFUSED: status = 507; break;
    case MIG_EUNREACHABLE: status = 503; break;
    default: break;
    }
    if (rv == MIG_ENOMEM) httpd_error(r, 500, "internal", "out of memory");
    else httpd_error(r, status, m->err_code[0] ? m->err_code : "internal", "%s", m->err);
}

bool httpd_read_body(sim_req_t *r) {
    char *buf;
    size_t n;
    int st = httpbody_read(r->conn, BODY_MAX, &buf, &n);
    if (st == 413) httpd_error(r, 413, "payload_too_large", "the body is over %d bytes", BODY_MAX);
    if (st == 408) httpd_error(r, 408, "request_timeout", "the body did not arrive in time");
    if (st == 500) httpd_error(r, 500, "internal", "out of memory");
    if (st != 0) return false;
    size_t lead = 0;
    while (lead < n && (buf[lead] == ' ' || buf[lead] == '\n' || buf[lead] == '\r' || buf[lead] == '\t')) lead++;
    if (lead == n) {
        free(buf);
        return true; /* no body: the calls that need one say so */
    }
    /* nesting bounded before cJSON recurses on a civetweb thread's small stack, and one
     * value with nothing after it (core/jsonbody.h) */
    char why[128];
    r->body = jsonbody_parse(buf, n, why, sizeof why);
    free(buf);
    if (r->body == NULL) {
        httpd_error(r, 400, "bad_request", "%s", why);
        return false;
    }
    if (!cJSON_IsObject(r->body)) {
        cJSON_Delete(r->body);
        r->body = NULL;
        httpd_error(r, 400, "bad_request", "the body must be a JSON object");
        return false;
    }
    return true;
}

void httpd_send(sim_req_t *r) {
    int status = r->status ? r->status : 500;
    char *text = r->reply ? cJSON_PrintUnformatted(r->reply) : NULL;
    size_t len = text ? strlen(text) : 0;
    if (text)
        mg_printf(r->conn,
                  "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                  "Cache-Control: no-store\r\n\r\n",
                  status, mg_get_response_code_text(r->conn, status), len);
    else
        mg_printf(r->conn, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\n\r\n", status,
                  mg_get_response_code_text(r->conn, status));
    if (text) mg_write(r->conn, text, len);
    free(text);
    r->status = status;
}

const char *httpd_str(const sim_req_t *r, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->body, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

double httpd_num(const sim_req_t *r, const char *name, double def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->body, name);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

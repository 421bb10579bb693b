/* routes_session.c - who the caller is: the role of the request's token, so that the
 * dashboard shows only the actions that role may take (a viewer sees no buttons). */
#include "api/api.h"

/* GET /api/whoami - {"role":"viewer|optimizer|operator","auth":true|false}; 401 for no
 * or an unknown token while tokens are configured. Reads nothing from Redis. */
static void h_whoami(http_req_t *r) {
    if (!http_role_or_reply(r, ROLE_VIEWER)) return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "role", auth_role_name(r->role));
    cJSON_AddBoolToObject(o, "auth", auth_enabled(r->api->auth));
    http_reply_json(r, 200, o);
}

const http_route_t routes_session[] = {
    {"GET", "/api/whoami", h_whoami},
};
const size_t routes_session_count = sizeof routes_session / sizeof routes_session[0];

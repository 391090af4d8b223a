/* gateway_error.c -- XMPP stanza error conditions <-> SIP response codes
 * (RFC 7247 section 8, with the two departures gateway_map.h explains).
 * Pure tables. */
#include "xmpp/gateway_map.h"

#include <string.h>

struct cond_row {
    const char *cond;
    const char *type; /* RFC 6120 section 8.3.3: the type each condition SHOULD carry */
    int sip;          /* RFC 7247 Table 2 (departures marked) */
    const char *reason;
};

static const struct cond_row conds[] = {
    {"bad-request", "modify", 400, "Bad Request"},
    {"conflict", "cancel", 400, "Bad Request (conflict)"},
    {"feature-not-implemented", "cancel", 405, "Method Not Allowed"},
    {"forbidden", "auth", 403, "Forbidden"},
    {"gone", "cancel", 410, "Gone"},
    {"internal-server-error", "cancel", 500, "Server Internal Error"},
    {"item-not-found", "cancel", 404, "Not Found"},
    {"jid-malformed", "modify", 400, "Bad Request (malformed address)"},
    {"not-acceptable", "modify", 406, "Not Acceptable"},
    {"not-allowed", "cancel", 405, "Method Not Allowed"},
    {"not-authorized", "auth", 401, "Unauthorized"},
    {"policy-violation", "modify", 403, "Forbidden (policy violation)"},
    {"recipient-unavailable", "wait", 480, "Temporarily Unavailable"},
    {"redirect", "modify", 302, "Moved Temporarily"},
    {"registration-required", "auth", 400, "Bad Request (registration required)"},
    {"remote-server-not-found", "cancel", 404, "Not Found (remote server)"},
    {"remote-server-timeout", "wait", 408, "Request Timeout"},
    {"resource-constraint", "wait", 500, "Server Internal Error (resource constraint)"},
    /* departure: 480, not 503 (see gateway_map.h) */
    {"service-unavailable", "cancel", 480, "Temporarily Unavailable"},
    {"subscription-required", "auth", 400, "Bad Request (subscription required)"},
    {"undefined-condition", "cancel", 400, "Bad Request"},
    {"unexpected-request", "wait", 491, "Request Pending"},
};

static const struct cond_row *find(const char *cond)
{
    for (size_t i = 0; cond && i < sizeof(conds) / sizeof(conds[0]); i++)
        if (strcmp(conds[i].cond, cond) == 0)
            return &conds[i];
    return NULL;
}

int gw_err_xmpp_to_sip(const char *condition, const char **reason)
{
    const struct cond_row *r = find(condition);
    if (!r) {
        *reason = "Server Internal Error (unknown XMPP error)";
        return 500;
    }
    *reason = r->reason;
    return r->sip;
}

const char *gw_err_type(const char *condition)
{
    const struct cond_row *r = find(condition);
    return r ? r->type : "cancel";
}

/* RFC 7247 Table 3 (SIP -> XMPP). */
static const struct {
    int sip;
    const char *cond;
} codes[] = {
    {400, "bad-request"},
    {401, "not-authorized"},
    {402, "bad-request"},
    {403, "forbidden"},
    {404, "item-not-found"},
    {405, "feature-not-implemented"},
    {406, "not-acceptable"},
    {407, "not-authorized"},
    {408, "recipient-unavailable"}, /* departure: RFC 7247 says remote-server-timeout */
    {410, "gone"},
    {413, "policy-violation"},
    {414, "jid-malformed"},
    {415, "bad-request"},
    {416, "jid-malformed"},
    {420, "feature-not-implemented"},
    {421, "bad-request"},
    {423, "bad-request"},
    {480, "recipient-unavailable"},
    {481, "item-not-found"},
    {482, "not-acceptable"},
    {483, "not-acceptable"},
    {484, "item-not-found"},
    {485, "bad-request"},
    {486, "recipient-unavailable"},
    {487, "service-unavailable"},
    {488, "not-acceptable"},
    {489, "policy-violation"},
    {491, "unexpected-request"},
    {493, "service-unavailable"},
    {500, "internal-server-error"},
    {501, "feature-not-implemented"},
    {502, "remote-server-not-found"},
    {503, "service-unavailable"},
    {504, "remote-server-timeout"},
    {505, "not-acceptable"},
    {513, "policy-violation"},
    {600, "service-unavailable"},
    {603, "service-unavailable"},
    {604, "item-not-found"},
    {606, "not-acceptable"},
};

const char *gw_err_sip_to_xmpp(int status, const char **type)
{
    const char *cond = NULL;
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]) && !cond; i++)
        if (codes[i].sip == status)
            cond = codes[i].cond;
    if (!cond) {
        if (status >= 300 && status < 400)
            cond = "redirect";
        else if (status >= 400 && status < 500)
            cond = "bad-request";
        else if (status >= 500 && status < 600)
            cond = "internal-server-error";
        else
            cond = "service-unavailable"; /* 6xx and anything odd */
    }
    *type = gw_err_type(cond);
    return cond;
}

/* xmpp_config.c -- the "xmpp" group of the node's configuration file: its
 * settings table (defaults and documentation, printed by --print-config) and
 * the loader. The rest of the file belongs to node_config.c and the policy. */
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_table.h"
#include "xmpp/s2s.h"

#define K(path, type, field, def, min, max, doc)                                                   \
    {                                                                                              \
        path, type, offsetof(struct xmpp_config, field), def, min, max, doc                        \
    }

const struct cfg_key xmpp_config_keys[] = {
    K("xmpp.enabled", CFG_BOOL, enabled, "true", 0, 0,
      "run the XMPP s2s listener and streams (the policy's access_edge.enable_xmpp decides "
      "whether partners are served)"),
    K("xmpp.listen", CFG_STR, listen, NULL, 0, 0,
      "address:port of the s2s listener; unset: external.listen's address, port 5269 "
      "(127.0.0.1:5269 in the embedded default)"),
    K("xmpp.cert", CFG_STR, cert, NULL, 0, 0,
      "PEM certificate presented on s2s streams; it must name every domain we serve "
      "(XEP-0178); unset: tls.cert"),
    K("xmpp.key", CFG_STR, key, NULL, 0, 0, "its private key; unset: tls.key"),
    K("xmpp.ca", CFG_STR, ca, NULL, 0, 0,
      "CA bundle partners' certificates must chain to; unset: tls.ca"),
    K("xmpp.dialback_secret", CFG_STR, dialback_secret, NULL, 0, 0,
      "secret of our dialback keys (XEP-0185); every node of a pool needs the same; unset: "
      "random at start (a single node)"),
    K("xmpp.max_stanza_size", CFG_INT, max_stanza_size, "65536", 1024, 16777216,
      "largest stanza (or stream header) in bytes; larger ends the stream with "
      "<policy-violation/>"),
    K("xmpp.idle_timeout", CFG_INT, idle_timeout_s, "600", 5, 86400,
      "seconds without traffic before a stream is closed"),
    K("xmpp.negotiation_timeout_ms", CFG_INT, negotiation_timeout_ms, "20000", 500, 300000,
      "DNS, connect, STARTTLS and authentication of a stream must end within this"),
    K("xmpp.max_queue", CFG_INT, max_queue, "1000", 1, 1000000,
      "stanzas waiting for one outbound stream to be ready"),
    K("xmpp.max_streams", CFG_INT, max_streams, "1000", 1, 1000000, "inbound streams at once"),
    K("xmpp.default_port", CFG_INT, default_port, "5269", 1, 65535,
      "port of a partner found without SRV (its domain's address, or its edge_fqdn)"),
    K("xmpp.im_sessions", CFG_STR, im_sessions, "auto", 0, 0,
      "when an XMPP user writes to an internal user, open an INVITE IM session (what Lync / "
      "Skype for Business clients show) or send page-mode MESSAGEs: \"auto\" a session for "
      "users who opened one themselves in the last 30 days, \"always\" a session for everyone "
      "(all internal users on Lync/SfB), \"never\" page mode only"),
    K("xmpp.session_idle_timeout", CFG_INT, session_idle_s, "600", 10, 3000,
      "seconds without a message either way after which the gateway ends (BYE) a session it "
      "opened"),
    K("xmpp.session_ring_timeout", CFG_INT, session_ring_s, "180", 5, 3600,
      "seconds the gateway's INVITE may ring unanswered before it is CANCELled (the XMPP "
      "user's messages then bounce with <recipient-unavailable/>)"),
    {NULL, 0, 0, NULL, 0, 0, NULL},
};

int xmpp_im_sessions_mode(const char *s)
{
    if (!s || strcmp(s, "auto") == 0)
        return XMPP_IM_SESSIONS_AUTO;
    if (strcmp(s, "always") == 0)
        return XMPP_IM_SESSIONS_ALWAYS;
    if (strcmp(s, "never") == 0)
        return XMPP_IM_SESSIONS_NEVER;
    return -1;
}

void xmpp_config_free(struct xmpp_config *c)
{
    cfg_table_free(xmpp_config_keys, c);
}

int xmpp_config_load(struct xmpp_config *c, const char *path, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    if (cfg_table_defaults(xmpp_config_keys, c) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (!path)
        return 0;
    config_t cfg;
    config_init(&cfg);
    if (!config_read_file(&cfg, path)) {
        snprintf(err, errlen, "%s:%d: %s", path, config_error_line(&cfg), config_error_text(&cfg));
        config_destroy(&cfg);
        return -1;
    }
    /* every other top-level group belongs to someone else */
    config_setting_t *root = config_root_setting(&cfg);
    int n = config_setting_length(root);
    const char **foreign = calloc((size_t)n + 1, sizeof(*foreign));
    int k = 0, rc = -1;
    if (foreign) {
        for (int i = 0; i < n; i++) {
            const char *name = config_setting_name(config_setting_get_elem(root, (unsigned)i));
            if (name && strcmp(name, "xmpp") != 0)
                foreign[k++] = name;
        }
        rc = cfg_table_load(xmpp_config_keys, c, &cfg, foreign, err, errlen);
        free(foreign);
        if (rc == 0 && xmpp_im_sessions_mode(c->im_sessions) < 0) {
            config_setting_t *s = config_lookup(&cfg, "xmpp.im_sessions");
            snprintf(err, errlen, "%s:%d: xmpp.im_sessions: \"%s\" is not auto, always or never",
                     path, s ? config_setting_source_line(s) : 0, c->im_sessions);
            rc = -1;
        }
    } else {
        snprintf(err, errlen, "out of memory");
    }
    config_destroy(&cfg);
    return rc;
}

/* ep-xmpp.c -- the node's XMPP s2s module (node/xmpp/) driven on its own,
 * for tests: opens the outbound stream our node would open and sends
 * stanzas on it, or just listens; prints one line per event.
 *
 *   ep-xmpp -c CONF [-t SECONDS] send FROM_DOMAIN TO_DOMAIN XML...
 *   ep-xmpp -c CONF [-t SECONDS] listen
 *
 * CONF is an edge-node configuration (its tls, dns, xmpp and policy groups
 * are used; xmpp.listen should differ from a running node's). send queues
 * every XML with xmpp_send_stanza() and waits until each was written on an
 * authenticated stream ("sent N") or reported undelivered ("failed ID
 * CONDITION TEXT"), then lingers a second so the bytes leave, and exits 0
 * when all were sent, 1 otherwise; "refused CODE" when xmpp_send_stanza
 * refuses at once (exit 2). listen prints "stanza FROM TO XML" for every
 * inbound stanza until -t SECONDS (default 10) pass. */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "federation/policy.h"
#include "log.h"
#include "node.h"
#include "resolver.h"
#include "xmpp/xmpp.h"

static int n_queued, n_failed, n_sent_target;
static bool lingering;
static struct event *ev_tick, *ev_deadline;

uint64_t node_now_ms(const struct node *n)
{
    struct timeval tv;
    event_base_gettimeofday_cached(n->base, &tv);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

void xmpp_gateway_on_stanza(struct node *n, const struct xmpp_stanza *st)
{
    printf("stanza %s %s %.*s\n", st->from, st->to, (int)st->xml_len, st->xml);
    fflush(stdout);
}

void xmpp_gateway_on_send_failed(struct node *n, const struct xmpp_send_failure *f)
{
    printf("failed %s %s %s\n", f->id ? f->id : "-", f->condition, f->text);
    fflush(stdout);
    n_failed++;
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    struct node *n = arg;
    struct xmpp_stats st;
    xmpp_get_stats(n, &st);
    if (!lingering && n_sent_target > 0 && (int)st.stanzas_out + n_failed >= n_sent_target) {
        printf("sent %llu\n", st.stanzas_out);
        fflush(stdout);
        lingering = true;
        struct timeval one = {1, 0};
        event_add(ev_deadline, &one);
    }
}

static void deadline(evutil_socket_t fd, short what, void *arg)
{
    struct node *n = arg;
    if (!lingering && n_sent_target > 0) {
        struct xmpp_stats st;
        xmpp_get_stats(n, &st);
        printf("timeout: sent %llu of %d\n", st.stanzas_out, n_sent_target);
    }
    event_base_loopbreak(n->base);
}

int main(int argc, char **argv)
{
    const char *conf = NULL;
    int seconds = 10, o;
    while ((o = getopt(argc, argv, "c:t:")) != -1) {
        if (o == 'c')
            conf = optarg;
        else if (o == 't')
            seconds = atoi(optarg);
        else
            return 2;
    }
    if (!conf || optind >= argc ||
        !(strcmp(argv[optind], "listen") == 0 ||
          (strcmp(argv[optind], "send") == 0 && argc - optind >= 4))) {
        fprintf(stderr, "usage: ep-xmpp -c CONF [-t SECONDS] send FROM TO XML... | listen\n");
        return 2;
    }
    char err[512] = "";
    struct node node;
    memset(&node, 0, sizeof(node));
    struct node *n = &node;
    n->config_path = conf;
    if (node_config_load(&n->cfg, conf, err, sizeof(err)) < 0) {
        fprintf(stderr, "ep-xmpp: %s\n", err);
        return 2;
    }
    log_init("ep-xmpp", false, (enum log_level)log_level_parse(n->cfg.log_level));
    signal(SIGPIPE, SIG_IGN);
    n->base = event_base_new();
    struct resolver_opts ro = {.servers = n->cfg.dns_servers, .timeout_ms = n->cfg.dns_timeout_ms};
    n->resolver = resolver_new(n->base, &ro, err, sizeof(err));
    n->policy = n->resolver ? policy_store_file_new(conf, err, sizeof(err)) : NULL;
    if (!n->policy || xmpp_start(n, err, sizeof(err)) < 0) {
        fprintf(stderr, "ep-xmpp: %s\n", err);
        return 2;
    }
    ev_tick = event_new(n->base, -1, EV_PERSIST, tick, n);
    ev_deadline = evtimer_new(n->base, deadline, n);
    struct timeval t = {0, 20000}, dl = {seconds, 0};
    event_add(ev_tick, &t);
    event_add(ev_deadline, &dl);
    int rc = 0;
    if (strcmp(argv[optind], "send") == 0) {
        const char *from = argv[optind + 1], *to = argv[optind + 2];
        for (int i = optind + 3; i < argc && rc == 0; i++) {
            int r = xmpp_send_stanza(n, from, to, argv[i], strlen(argv[i]));
            if (r < 0) {
                printf("refused %s\n", xmpp_send_err_name(r));
                rc = 2;
            } else {
                n_queued++;
            }
        }
        n_sent_target = n_queued;
    }
    if (rc == 0)
        event_base_dispatch(n->base);
    struct xmpp_stats st;
    xmpp_get_stats(n, &st);
    if (rc == 0 && n_sent_target > 0 && (n_failed > 0 || (int)st.stanzas_out < n_sent_target))
        rc = 1;
    event_free(ev_tick);
    event_free(ev_deadline);
    resolver_free(n->resolver);
    xmpp_stop(n);
    n->policy->free(n->policy);
    node_config_free(&n->cfg);
    event_base_free(n->base);
    printf("exit %d\n", rc);
    return rc;
}

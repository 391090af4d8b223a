# node.sh -- start edge-node instances for the integration tests.
#
# Source after common.sh (and dns.sh when DNS is used). A node is an
# ep_spawn'ed process whose name starts with "node" (so ep_cleanup checks its
# log for sanitizer reports), its config in $WORK/NAME.conf.
#
#   node_conf NAME ADDR NEXT_HOP DNS [POLICY] [EXTRA] [REDIS]  write $WORK/NAME.conf
#       ADDR      the node's address: internal TCP ADDR:5060, federation TLS ADDR:5061
#       NEXT_HOP  internal next hop "host:port", or several "h1:p1,h2:p2" (in order)
#       DNS       "ip:port" of the test DNS server, or "" for none
#       POLICY    the body of the policy group (default: federation on,
#                 contoso.test ours, fabrikam.test allowed by SRV)
#       EXTRA     more top-level groups / settings appended verbatim
#       REDIS     the body of a redis group (pool state in Redis), e.g.
#                 'addr = "127.0.11.100:6392";'; the snapshot defaults to
#                 $WORK/NAME.policy. Empty: no redis group (a lone node)
#       NODE_LOG_LEVEL (info), NODE_TXN_TIMEOUT (ms, 4000), NODE_LIMITS (more
#       settings inside the limits group, e.g. "idle_timeout = 5;"),
#       NODE_INTERNAL (more inside the internal group, e.g. a pool's
#       'record_route_host = "edge-int.contoso.test";'), NODE_ADMIN (more
#       inside the admin group, e.g. 'token = "t"; allow = [ "127.0.17.2" ];';
#       the admin endpoint listens on ADDR:8080, allowed from 127.0.0.0/8)
#   node_start NAME [ARGS...]   start $EP_BIN/edge-node -f -c $WORK/NAME.conf;
#                               returns once both listeners are up
# Certificates: the pool's (contoso-edge) and the test CA from ep_certs.

NODE_POLICY_DEFAULT='
  access_edge = { allow_federated_users = true; enable_partner_discovery = false; };
  internal_domains = [ "contoso.test" ];
  allowed_domains = ( "fabrikam.test" );
  external_access_policies = ( { name = "global"; enable_federation_access = true;
                                 enable_public_cloud_access = true; } );'

node_conf() {
    local name=$1 addr=$2 next=$3 dns=$4 policy=${5:-$NODE_POLICY_DEFAULT} extra=${6:-} redis=${7:-}
    {
        cat <<CONF
node = { id = "$name"; pool_fqdn = "sip.contoso.test"; fqdn = "$name.contoso.test";
         log_level = "${NODE_LOG_LEVEL:-info}"; };
internal = { listen = "$addr:5060"; next_hops = [ "${next//,/\", \"}" ]; ${NODE_INTERNAL:-} };
external = { listen = "$addr:5061"; };
tls = { cert = "$EP_CERTS/contoso-edge.crt"; key = "$EP_CERTS/contoso-edge.key";
        ca = "$EP_CERTS/ca.crt"; };
limits = { transaction_timeout_ms = ${NODE_TXN_TIMEOUT:-4000}; ${NODE_LIMITS:-} };
admin = { listen = "$addr:8080"; ${NODE_ADMIN:-} };
CONF
        [ -n "$dns" ] && echo "dns = { servers = \"$dns\"; timeout_ms = 500; };"
        printf 'policy = {%s\n};\n' "$policy"
        printf '%s\n' "$extra"
        if [ -n "$redis" ]; then
            [[ $redis == *snapshot* ]] || redis="$redis snapshot = \"$WORK/$name.policy\";"
            printf 'redis = { %s };\n' "$redis"
        fi
    } >"$WORK/$name.conf"
}

node_start() {
    local name=$1 addr
    shift
    addr=$(sed -n 's/.*listen = "\([0-9.]*\):5060".*/\1/p' "$WORK/$name.conf" | head -1)
    ep_spawn "$name" "$EP_BIN/edge-node" -f -c "$WORK/$name.conf" "$@"
    wait_until 10 node__up "$name" "$addr" || fail "edge-node $name did not start on $addr"
}
node__up() {
    ep_alive "$1" || { tail -n 20 "$WORK/$1.log" >&2; fail "edge-node $1 exited at start"; }
    ep__listening "$2" 5060 && ep__listening "$2" 5061
}

# A zone file for DOMAIN whose federation SRV points at EDGE_NAME (a name in
# the zone) with address EDGE_ADDR; more records may follow as arguments.
zone_write() { # FILE DOMAIN EDGE_HOST EDGE_ADDR [RECORD...]
    local f=$1 d=$2 host=$3 addr=$4
    shift 4
    {
        printf '$ORIGIN %s.\n$TTL 30\n' "$d"
        printf '@ IN SOA ns.%s. hostmaster.%s. 1 3600 600 86400 30\n' "$d" "$d"
        printf '@ IN NS ns.%s.\nns IN A 127.0.0.1\n' "$d"
        printf '_sipfederationtls._tcp IN SRV 0 0 5061 %s.\n' "$host"
        printf '%s. IN A %s\n' "$host" "$addr"
        local r
        for r in "$@"; do printf '%s\n' "$r"; done
    } >"$f"
}

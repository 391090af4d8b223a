#!/bin/bash
# dns_query.sh -- builds the balancer's DNS fuzz target (fuzz_dns_query.c:
# query parser + zone answers, every answer decoded strictly) and runs it for
# a bounded time, like run.sh for SIP.
#
# FUZZ_SECONDS (default 30) bounds the run. Exit 0 clean, 77 when clang or
# libFuzzer is missing, 1 on a finding (its input is kept in build-san/fuzz/).
cd "$(dirname "$0")/../.." || exit 1
OUT=build-san/fuzz
BIN=$OUT/fuzz_dns_query
mkdir -p "$OUT"

command -v clang >/dev/null 2>&1 || { echo "SKIP: clang not installed"; exit 77; }
if ! clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
        -Ishared -Ibalancer $(pkg-config --cflags hiredis) tests/fuzz/fuzz_dns_query.c \
        balancer/dns/wire.c balancer/dns/zone.c -o "$BIN" 2>"$OUT/build-dns.log"; then
    cat "$OUT/build-dns.log"
    if grep -q -e "libclang_rt.fuzzer" -e "cannot find.*fuzzer" "$OUT/build-dns.log"; then
        echo "SKIP: libFuzzer runtime missing (libclang-rt-14-dev)"
        exit 77
    fi
    exit 1
fi

CORPUS=$(mktemp -d)
trap 'rm -rf "$CORPUS"' EXIT
cp tests/fuzz/corpus_dns/* "$CORPUS"/

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
"$BIN" -max_total_time="${FUZZ_SECONDS:-30}" -error_exitcode=1 -max_len=1024 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$OUT/dns-" "$CORPUS"

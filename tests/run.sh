#!/bin/bash
# run.sh -- runs every test and ends with "N passed, N failed".
#
# Unit tests (cmocka) from the sanitizer build; integration scripts in
# tests/integration (exit 0 pass, 77 skipped, anything else failed) against the
# sanitizer build of the daemons; a bounded fuzz run. Logs in tests/out/.
# TESTS=pattern restricts what runs (a substring of the test's name).
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
OUT=$ROOT/tests/out
mkdir -p "$OUT"
export EP_BIN=${EP_BIN:-$ROOT/build-san/bin}
export EP_ROOT=$ROOT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
pass=0; fail=0; skip=0; failed=()

run_one() { # name, command...
    local name=$1; shift
    [ -n "$TESTS" ] && [[ "$name" != *"$TESTS"* ]] && return
    local log="$OUT/${name//\//_}.log" start=$SECONDS rc
    timeout -k 5 300 "$@" >"$log" 2>&1; rc=$?
    if [ $rc = 0 ]; then
        pass=$((pass + 1)); printf 'PASS  %-50s %3ds\n' "$name" $((SECONDS - start))
    elif [ $rc = 77 ]; then
        skip=$((skip + 1)); printf 'SKIP  %-50s %s\n' "$name" "$(tail -1 "$log")"
    else
        fail=$((fail + 1)); failed+=("$name")
        printf 'FAIL  %-50s (exit %d, log %s)\n' "$name" $rc "${log#$ROOT/}"
        tail -15 "$log" | sed 's/^/      | /'
    fi
}

for t in build-san/tests/test_*; do
    [ -x "$t" ] && run_one "unit/$(basename "$t")" "$t"
done
for t in tests/integration/*.sh tests/failover/*.sh; do
    [ -f "$t" ] && run_one "${t#tests/}" bash "$t"
done
[ -x tests/lint/clang_format.sh ] && run_one "lint/clang_format" tests/lint/clang_format.sh
[ -x tests/fuzz/run.sh ] && run_one "fuzz/sip_parser" tests/fuzz/run.sh
[ -x tests/fuzz/xmpp_stream.sh ] && run_one "fuzz/xmpp_stream" tests/fuzz/xmpp_stream.sh
[ -x tests/fuzz/dns_query.sh ] && run_one "fuzz/dns_query" tests/fuzz/dns_query.sh

echo
[ ${#failed[@]} -gt 0 ] && printf 'failed: %s\n' "${failed[*]}"
if [ $skip -gt 0 ]; then
    echo "$pass passed, $fail failed, $skip skipped"
else
    echo "$pass passed, $fail failed"
fi
[ $fail = 0 ]

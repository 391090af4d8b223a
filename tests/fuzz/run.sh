#!/bin/bash
# run.sh -- builds the SIP parser fuzz target and runs it for a bounded time.
#
# clang + libFuzzer with ASan/UBSan into build-san/fuzz/; the seed corpus is
# copied to a temporary directory so runs never grow the checked-in one.
# FUZZ_SECONDS (default 30) bounds the run. Exit 0 clean, 77 when clang or
# libFuzzer is missing, non-zero on a crash (its input is kept in build-san/fuzz/).
cd "$(dirname "$0")/../.." || exit 1
OUT=build-san/fuzz
BIN=$OUT/fuzz_sip_parser
mkdir -p "$OUT"

command -v clang >/dev/null 2>&1 || { echo "SKIP: clang not installed"; exit 77; }
# shared/*.c: none needed today; the parser uses only slice.h.
if ! clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
        -Ishared -Inode tests/fuzz/fuzz_sip_parser.c node/sip/parser.c node/sip/uri.c \
        -o "$BIN" 2>"$OUT/build.log"; then
    cat "$OUT/build.log"
    if grep -q -e "libclang_rt.fuzzer" -e "cannot find.*fuzzer" "$OUT/build.log"; then
        echo "SKIP: libFuzzer runtime missing (libclang-rt-14-dev)"
        exit 77
    fi
    exit 1
fi

CORPUS=$(mktemp -d)
trap 'rm -rf "$CORPUS"' EXIT
cp tests/fuzz/corpus/* "$CORPUS"/

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
"$BIN" -max_total_time="${FUZZ_SECONDS:-30}" -error_exitcode=1 -max_len=8192 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$OUT/" "$CORPUS"

#!/bin/sh
# The standalone CLI under valgrind memcheck (make valgrind-test).
#   valgrind_cli.sh EDGERT CASES_DIR... [HOSTILE_DIR]
# Every <case>/ with model.ecm, input.bin and expected.bin is run with --expect and described
# with `info`; one case also with two threads. Files in a directory without cases (the fuzz
# regressions) must be refused or run cleanly. Memcheck errors and leaks exit with 99
# ($VALGRIND sets --error-exitcode=99); any other failure is reported by name too.
set -u
EDGERT=$1
shift
VALGRIND=${VALGRIND:-valgrind --quiet --error-exitcode=99 --leak-check=full}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
runs=0

# vg WANT_STATUS... -- ARGS: run the CLI under valgrind, expect one of the listed statuses
vg() {
    want=""
    while [ "$1" != "--" ]; do want="$want $1"; shift; done
    shift
    runs=$((runs + 1))
    $VALGRIND "$EDGERT" "$@" >"$TMP/out" 2>"$TMP/err"
    st=$?
    for w in $want; do
        [ "$st" = "$w" ] && return 0
    done
    fail=$((fail + 1))
    echo "FAIL (status $st, wanted$want): edgert $*"
    [ "$st" = 99 ] && echo "  valgrind memcheck reported errors:"
    sed 's/^/  /' "$TMP/err" | head -40
    return 1
}

first=""
for dir in "$@"; do
    for case in "$dir"/*/; do
        case=${case%/}
        [ -f "$case/model.ecm" ] || continue
        vg 0 -- info "$case/model.ecm"
        vg 0 -- run "$case/model.ecm" "$case/input.bin" "$TMP/y.bin" --expect "$case/expected.bin"
        [ -n "$first" ] || first=$case
    done
    # hostile files (no case directories): refused (2) or, if valid, run (0)
    for f in "$dir"/*; do
        [ -f "$f" ] || continue
        case "$f" in
        *.gz) gzip -dc "$f" >"$TMP/hostile.ecm" && vg 0 2 -- info "$TMP/hostile.ecm" ;;
        *) vg 0 2 -- info "$f" ;;
        esac
    done
done
if [ -n "$first" ]; then
    vg 0 -- run "$first/model.ecm" "$first/input.bin" --threads 2 --top 3
    # error paths: truncated model, wrong input size, missing file, bad arguments
    head -c 200 "$first/model.ecm" >"$TMP/truncated.ecm"
    vg 2 -- run "$TMP/truncated.ecm" "$first/input.bin"
    printf 'xyz' >"$TMP/short.bin"
    vg 2 -- run "$first/model.ecm" "$TMP/short.bin"
    vg 2 -- run "$TMP/missing.ecm" "$first/input.bin"
    vg 2 -- run "$first/model.ecm" "$first/input.bin" --threads 999
    head -c 1 "$first/expected.bin" >"$TMP/wrong_expect.bin"
    vg 1 2 -- run "$first/model.ecm" "$first/input.bin" --expect "$TMP/wrong_expect.bin"
fi
echo "valgrind memcheck: $runs CLI runs, $fail failed"
[ "$runs" -gt 0 ] && [ "$fail" -eq 0 ]

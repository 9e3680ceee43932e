#!/bin/sh
# The standalone CLI on one golden case: info, run to a file, --expect (match and mismatch),
# --top, and clear errors with a nonzero exit for bad input.
#   test_cli.sh EDGERT_BINARY CASE_DIR      (RUN may prefix the binary, e.g. with qemu)
set -u
RUN=${RUN:-}
BIN="$1"
CASE="$2"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
edgert() { $RUN "$BIN" "$@"; }
expect_rc() { # want_rc description command...
    want=$1; what=$2; shift 2
    "$@" >"$TMP/out" 2>&1
    rc=$?
    if [ "$rc" -ne "$want" ]; then
        echo "FAIL $what: exit $rc, wanted $want"; cat "$TMP/out"; fails=$((fails + 1))
    fi
}
expect_out() { # text description
    if ! grep -q -- "$1" "$TMP/out"; then
        echo "FAIL $2: output lacks '$1'"; cat "$TMP/out"; fails=$((fails + 1))
    fi
}

expect_rc 0 "info" edgert info "$CASE/model.ecm"
expect_out "arena" "info"
expect_out "CONV" "info"
expect_rc 0 "run to file" edgert run "$CASE/model.ecm" "$CASE/input.bin" "$TMP/y.bin"
cmp -s "$TMP/y.bin" "$CASE/expected.bin" || { echo "FAIL run: output differs"; fails=$((fails + 1)); }
expect_rc 0 "expect match" edgert run "$CASE/model.ecm" "$CASE/input.bin" --expect "$CASE/expected.bin" --threads 2
expect_out "identical" "expect match"
# the expected output with its first byte changed
cp "$CASE/expected.bin" "$TMP/exp.bin"
head -c 1 "$TMP/exp.bin" | od -An -tu1 | {
    read v; printf "$(printf '\\%03o' $(( (v + 1) % 256 )))" | dd of="$TMP/exp.bin" bs=1 count=1 conv=notrunc 2>/dev/null; }
expect_rc 1 "expect mismatch" edgert run "$CASE/model.ecm" "$CASE/input.bin" --expect "$TMP/exp.bin"
expect_out "first at byte 0" "expect mismatch"
expect_rc 0 "top" edgert run "$CASE/model.ecm" "$CASE/input.bin" --top 3
expect_out "  3. class" "top"
head -c 5 "$CASE/input.bin" >"$TMP/short.bin"
expect_rc 2 "short input" edgert run "$CASE/model.ecm" "$TMP/short.bin"
expect_out "5 bytes, the model input" "short input"
expect_rc 2 "missing model" edgert run "$TMP/nope.ecm" "$CASE/input.bin"
expect_out "cannot open" "missing model"
head -c 300 "$CASE/model.ecm" >"$TMP/trunc.ecm"
expect_rc 2 "truncated model" edgert info "$TMP/trunc.ecm"
expect_out "header says the file is" "truncated model"
expect_rc 2 "bad option" edgert run "$CASE/model.ecm" "$CASE/input.bin" --threads 0
expect_rc 2 "usage" edgert frobnicate
if [ "$fails" -ne 0 ]; then echo "test_cli: $fails FAILED"; exit 1; fi
echo "test_cli: all passed"

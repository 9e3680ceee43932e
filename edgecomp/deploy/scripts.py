"""The shell scripts that run on the board (POSIX sh: the board may have no Python at all).

Each is sent on ssh's stdin (`sh -s -- args...`). They print `key=value` lines on stdout for
the host and, on failure, one `edgecomp-board: message` line on stderr and a distinct exit
status (EXIT_* below), which the host turns into an error class.

Board layout under the target directory:

    runtime/<build id>/        sources, build.log, bin/edgert, BUILD_OK (only once built)
    models/<sha256>/model.ecm
    releases/<model sha:12>-<build id>/
        model.ecm -> ../../models/<sha256>/model.ecm
        edgert    -> ../../runtime/<build id>/bin/edgert
        selftest/input.bin, expected.bin, result.txt    RELEASE (what, when, from where)
    current  -> releases/...   (the active release)
    previous -> releases/...   (what `rollback` returns to)
    .staging/<token>/          one upload in progress
    .lock                      flock(1) lock held while a deploy or rollback changes things

Safety: everything new is written under a *.tmp-<token> name and renamed into place; the
`current` and `previous` links are replaced by rename(2) (ln -s tmp && mv -T tmp current), so a
deploy that fails or is killed at any point leaves the active release as it was.
"""
from __future__ import annotations

EXIT_NO_COMPILER = 10
EXIT_NO_TOOL = 11
EXIT_DISK_FULL = 12
EXIT_BUILD = 13
EXIT_SELFTEST = 14
EXIT_CORRUPT = 16
EXIT_LOCKED = 17
EXIT_TARGET_DIR = 18
EXIT_NOTHING_TO_ROLL_BACK = 19
EXIT_NO_UPLOAD = 20
EXIT_NO_RUNTIME = 21
EXIT_IO = 22

COMMON = r"""
set -u
umask 022
die() { code=$1; shift; printf 'edgecomp-board: %s\n' "$*" >&2; exit "$code"; }
say() { printf '%s=%s\n' "$1" "$2"; }
take_lock() {
    [ -w . ] || die 22 "$PWD is not writable"
    exec 9>>.lock
    # flock is released by the kernel when we die, so a killed deploy leaves no stale lock.
    if command -v flock >/dev/null 2>&1; then
        flock -w 300 9 || die 17 "another deploy or rollback in $PWD has held .lock for 5 minutes"
    fi
}
# Replace the symlink $1 by one to $2 atomically: rename(2) over the old link.
setlink() {
    ln -s -- "$2" ".$1.tmp-$token" && mv -T -- ".$1.tmp-$token" "$1"
}
# Run a release's self-test: its edgert on the golden input must give the expected bytes
# (edgert exit status 0: identical, 1: they differ, 2: it could not run).
selftest() {
    (cd "$1" && ./edgert run model.ecm selftest/input.bin --expect selftest/expected.bin) \
        >"$1/selftest/result.txt" 2>&1
}
"""



def _program(body: str) -> str:
    """The script as one function called on its last line: sh runs nothing until it has
    read all of it, so a script cut short in transit is a syntax error, never half a script
    (and no command run by it can read the rest of the script from the shared stdin)."""
    return f"{COMMON}\nmain() {{\n{body}\n}}\nmain \"$@\" </dev/null\n"


# args: dir
PROBE = _program(r"""
dir=$1
mkdir -p -- "$dir" 2>/dev/null || die 18 "cannot create the target directory $dir"
cd -- "$dir" 2>/dev/null || die 18 "cannot enter the target directory $dir"
[ -w . ] || die 18 "the target directory $PWD is not writable"
say dir "$(pwd -P)"
say arch "$(uname -m)"
cc=
for c in ${CC:-} cc gcc clang; do
    if command -v "$c" >/dev/null 2>&1; then cc=$c; break; fi
done
say cc "$cc"
if [ -n "$cc" ]; then
    say cc_path "$(command -v "$cc")"
    say cc_version "$("$cc" --version 2>/dev/null | head -n 1)"
    say cc_machine "$("$cc" -dumpmachine 2>/dev/null)"
fi
say make "$(command -v make 2>/dev/null)"
say tar "$(command -v tar 2>/dev/null)"
say avail_kb "$(df -Pk . 2>/dev/null | awk 'NR == 2 {print $4}')"
for f in runtime/*/BUILD_OK; do
    if [ -f "$f" ]; then say built "$(basename "$(dirname "$f")")"; fi
done
say current "$(readlink current 2>/dev/null)"
say previous "$(readlink previous 2>/dev/null)"
exit 0
""")

# sh -c script for the upload: args dir token; the tar stream comes on stdin.
UPLOAD = r"""umask 022
mkdir -p -- "$1/.staging/$2" && cd -- "$1/.staging/$2" && exec tar -x -o -f -"""

# sh -c script removing a failed upload: args dir token.
DISCARD = r"""rm -rf -- "$1/.staging/$2" """

# args: dir token build_id cc release model_sha model_name make_target
INSTALL = _program(r"""
dir=$1 token=$2 build_id=$3 cc=$4 release=$5 model_sha=$6 model_name=$7 make_target=$8
cd -- "$dir" 2>/dev/null || die 18 "cannot enter the target directory $dir"
stage=.staging/$token
[ -d "$stage" ] || die 20 "the upload $PWD/$stage is missing"
tmps=  # what to remove when we exit: our upload, and new things nothing points at yet
trap 'rm -rf -- "$stage" $tmps' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
trap '' PIPE  # the host hung up: finish (or fail) cleanly rather than die half-way
take_lock
# Partial work of killed deploys: *.tmp-* names are only written while holding the lock.
rm -rf -- runtime/*.tmp-* models/*.tmp-* releases/*.tmp-* .current.tmp-* .previous.tmp-*
find .staging -mindepth 1 -maxdepth 1 -type d -mmin +60 -exec rm -rf -- {} + 2>/dev/null
mkdir -p runtime models releases || die 22 "cannot create directories in $PWD"

# 1. The runtime, unless this exact build (sources + compiler) is already here.
rt=runtime/$build_id
if [ -f "$rt/BUILD_OK" ]; then
    say runtime_built 0
else
    [ -d "$stage/runtime-src" ] ||
        die 21 "runtime $build_id is not on the board and its sources were not sent; deploy again"
    b=$rt.tmp-$token
    tmps="$tmps $b"
    rm -rf -- "$rt"
    mv -- "$stage/runtime-src" "$b" || die 22 "cannot move the runtime sources to $PWD/$b"
    jobs=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
    if ! make -C "$b" -j"$jobs" CC="$cc" WERROR= $make_target >"$b/build.log" 2>&1; then
        tail -n 30 "$b/build.log" >&2
        die 13 "the runtime failed to build with $cc (make in $PWD/$b)"
    fi
    exe=$(find "$b" -type f -name edgert -perm -u+x | head -n 1)
    [ -n "$exe" ] || die 13 "make succeeded but built no edgert executable in $PWD/$b"
    mkdir -p "$b/bin" && cp -- "$exe" "$b/bin/edgert" || die 22 "cannot install $exe"
    printf '%s\n' "$build_id" >"$b/BUILD_OK" || die 22 "cannot write $b/BUILD_OK"
    mv -- "$b" "$rt" || die 22 "cannot rename $b to $rt"
    say runtime_built 1
fi

# 2. The model, stored by content.
sha_ok() {  # file sha: true when it matches (or no tool can tell: edgert checks the trailer)
    [ -f "$1" ] || return 1
    command -v sha256sum >/dev/null 2>&1 || return 0
    [ "$(sha256sum <"$1" | cut -d ' ' -f 1)" = "$2" ]
}
m=models/$model_sha
sha_ok "$stage/model.ecm" "$model_sha" || die 16 "the model arrived corrupted (SHA-256 mismatch)"
if ! sha_ok "$m/model.ecm" "$model_sha"; then
    t=$m.tmp-$token
    tmps="$tmps $t"
    mkdir -p "$t" && mv -- "$stage/model.ecm" "$t/model.ecm" || die 22 "cannot store the model"
    if [ -d "$m" ]; then  # a damaged copy: replace the file itself, atomically
        mv -f -- "$t/model.ecm" "$m/model.ecm" || die 22 "cannot replace $m/model.ecm"
    else
        mv -- "$t" "$m" || die 22 "cannot rename $t to $m"
        tmps="$tmps $m"  # new here: removed again unless the switch below happens
    fi
fi

# 3. A release pairing both, self-tested before anything points at it.
rel=releases/$release
t=$rel.tmp-$token
tmps="$tmps $t"
mkdir -p "$t/selftest" || die 22 "cannot create $t"
ln -s "../../$m/model.ecm" "$t/model.ecm" && ln -s "../../$rt/bin/edgert" "$t/edgert" ||
    die 22 "cannot create the links of $t"
mv -- "$stage/selftest/input.bin" "$stage/selftest/expected.bin" "$t/selftest/" ||
    die 22 "cannot store the self-test vectors"
printf 'model=%s\nmodel_sha256=%s\nruntime=%s\ndeployed=%s\n' "$model_name" "$model_sha" \
    "$build_id" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$t/RELEASE" || die 22 "cannot write $t/RELEASE"
rc=0
selftest "$t" || rc=$?
if [ "$rc" -ne 0 ]; then
    cat "$t/selftest/result.txt" >&2
    [ "$rc" -eq 1 ] && die 14 "self-test mismatch: the board's output for the golden input" \
        "differs from the host's"
    die 14 "self-test could not run on the board (edgert exit status $rc)"
fi
say selftest passed
if [ ! -d "$rel" ]; then  # else this model with this runtime is here already: same links
    mv -- "$t" "$rel" || die 22 "cannot rename $t to $rel"
    tmps="$tmps $rel"
fi
sync

# 4. The switch: previous first, so the active release is never lost.
cur=$(readlink current 2>/dev/null || true)
if [ "$cur" = "$rel" ]; then
    say switched 0
else
    if [ -n "$cur" ]; then setlink previous "$cur" || die 22 "cannot update $PWD/previous"; fi
    setlink current "$rel" || die 22 "cannot switch $PWD/current"
    sync
    say switched 1
fi
tmps=  # the new model and release are in use now: keep them
say current "$rel"
say previous "$(readlink previous 2>/dev/null)"

# 5. Keep current and previous, and what they use; drop the rest.
keep=" $(readlink current) $(readlink previous 2>/dev/null) "
refs=
for r in releases/*; do
    [ -d "$r" ] || continue
    case $keep in
        *" $r "*) refs="$refs $(readlink "$r/model.ecm") $(readlink "$r/edgert")" ;;
        *) rm -rf -- "$r" ;;
    esac
done
for x in models/* runtime/*; do
    [ -d "$x" ] || continue
    case $refs in *"/$x/"*) ;; *) rm -rf -- "$x" ;; esac
done
exit 0
""")

# args: dir token
ROLLBACK = _program(r"""
dir=$1 token=$2
cd -- "$dir" 2>/dev/null || die 19 "nothing is deployed: $dir does not exist"
take_lock
trap 'rm -f -- ".current.tmp-$token" ".previous.tmp-$token"' EXIT
cur=$(readlink current 2>/dev/null) || die 19 "nothing is deployed in $PWD"
prev=$(readlink previous 2>/dev/null) || die 19 "no previous deployment in $PWD to roll back to"
[ -d "$prev" ] || die 19 "the previous release $PWD/$prev is gone"
if ! selftest "$prev"; then
    cat "$prev/selftest/result.txt" >&2
    die 14 "the previous release $prev fails its self-test on this board; not switching"
fi
setlink current "$prev" || die 22 "cannot switch $PWD/current"
setlink previous "$cur" || die 22 "cannot update $PWD/previous"
sync
say current "$prev"
say previous "$cur"
exit 0
""")

#!/usr/bin/env bash
# Backup benchmark, side by side in one run, wall time and peak RSS (GNU time's maximum resident
# set size; for a pipeline, that of its largest process):
#
#   tree   a generated ~300 MB tree (a 200 MB Winston-style JSON log, 2000 random binaries of
#          0-100 KB, 500 small JSON configs)
#     create: `runbook run` of a script calling backup::create   vs  `zip -qr`
#             targets: wall time ≤ 0.7× zip's, archive ≤ 1.05× zip's size
#     verify: `runbook run` of a script calling backup::verify   vs  `unzip -tq`
#             target: wall time ≤ 1× unzip's
#   big    one 256 MiB Winston-style log (the block pipeline deflates it on every core)
#     create: backup::create  vs  `zip -q`  and  `tar -c | pigz` (pigz on every core)
#
# Peak RSS of each runbook run is printed next to the peer's, with the ratio; `runbook run` of
# an empty script is the floor (the process itself: code, Rhai engine, runtime).
# Each command runs ROUNDS times (default 3), interleaved; the medians are reported.
# The data is read once beforehand so every command starts from a warm page cache.
#
# Usage: flock /tmp/cargo.lock benches/backup.sh
#   BACKUP_BENCH_DATA=DIR  reuse (or create once) the generated data in DIR
#   ROUNDS=N               rounds per command
#   RB=PATH                the runbook binary to measure (default: cargo build --release)
#   ONLY=tree|big          run one part
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in zip unzip python3 pigz tar /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install -y zip unzip pigz time)" >&2; exit 2; }
done
if [ -z "${RB:-}" ]; then
    cargo build --release --quiet --bin runbook
    target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    RB="$target_dir/release/runbook"
fi
ROUNDS=${ROUNDS:-3}
ONLY=${ONLY:-}
gen="$PWD/benches/gen_backup_data.py"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
data_parent=${BACKUP_BENCH_DATA:-$work/src}
mkdir -p "$data_parent"
data_parent=$(cd "$data_parent" && pwd)
if [ "$ONLY" != big ] && [ ! -f "$data_parent/data/logs/combined.log" ]; then
    echo "generating the test tree in $data_parent/data ..." >&2
    python3 "$gen" "$data_parent/data"
fi
if [ "$ONLY" != tree ] && [ ! -f "$data_parent/big/app.log" ]; then
    echo "generating the 256 MiB log in $data_parent/big ..." >&2
    python3 "$gen" "$work/gen" 256
    mkdir -p "$data_parent/big"
    mv "$work/gen/logs/combined.log" "$data_parent/big/app.log"
    rm -rf "$work/gen"
fi
export RUNBOOK_STATE_DIR="$work/state" RUNBOOK_CONFIG_DIR="$work/conf"
mkdir -p "$work/out/bk" "$work/state" "$work/conf"
cat > "$work/runbook.toml" <<EOF
[policy]
read = ["$data_parent"]
write = ["$work/out"]
timeout_s = 3600

[backup]
dir = "$work/out/bk"
EOF
printf '//! @action\nprint("ok");\n' > "$work/empty.rhai"

# run NAME CMD...: time CMD; appends "SECONDS KIB" to $work/NAME.m (stdout to $work/last.out).
run() {
    local name=$1; shift
    /usr/bin/time -f "%e %M" -o "$work/time.m" "$@" > "$work/last.out" 2> "$work/last.err" \
        || { echo "failed: $*" >&2; cat "$work/last.err" >&2; exit 1; }
    cat "$work/time.m" >> "$work/$name.m"
}
median() { python3 -c 'import sys,statistics; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
col() { awk -v c="$2" '{ print $c }' "$work/$1.m"; }
secs() { median $(col "$1" 1); }
mib() { python3 -c "import sys; print(f'{float(sys.argv[1]) / 1024:.1f}')" "$(median $(col "$1" 2))"; }
line() { printf '  %-24s %8.3f s  peak RSS %7s MiB%s\n' "$1" "$(secs "$2")" "$(mib "$2")" "${3:-}"; }
ratios() { # ratios RB PEER: wall and peak RSS of RB over PEER's
    python3 - "$(secs "$1")" "$(secs "$2")" "$(median $(col "$1" 2))" "$(median $(col "$2" 2))" <<'P'
import sys
rt, pt, rm, pm = map(float, sys.argv[1:])
print(f"      wall {rt / pt:.2f}x, peak RSS {rm / pm:.1f}x")
P
}

for round in $(seq 1 "$ROUNDS"); do
    (cd "$work" && run empty "$RB" run empty.rhai)
done

if [ "$ONLY" != big ]; then
    cat > "$work/create.rhai" <<EOF
//! @action
let b = backup::create("bench", ["$data_parent/data"], #{});
print(b.path);
EOF
    find "$data_parent/data" -type f -exec cat {} + > /dev/null
    files=$(find "$data_parent/data" -type f | wc -l)
    bytes=$(du -sb "$data_parent/data" | cut -f1)
    echo "tree: $files files, $((bytes / 1048576)) MiB; $(nproc) cores; rounds: $ROUNDS"
    for round in $(seq 1 "$ROUNDS"); do
        rm -f "$work/out/z.zip" "$work/out/bk/"*.zip
        (cd "$data_parent" && run zip zip -qr "$work/out/z.zip" data)
        (cd "$work" && run create "$RB" run create.rhai)
        archive=$(head -n 1 "$work/last.out")
        [ -f "$archive" ] || { echo "runbook create did not report an archive: $archive" >&2; exit 1; }
        cat > "$work/verify.rhai" <<EOF
//! @action
let v = backup::verify("$archive");
if !v.ok { fail(\`verify: \${v.bad}\`); }
EOF
        run unzip unzip -tq "$work/out/z.zip"
        (cd "$work" && run verify "$RB" run verify.rhai)
        echo "round $round: zip -r $(tail -n1 "$work/zip.m"), backup::create $(tail -n1 "$work/create.m"), unzip -t $(tail -n1 "$work/unzip.m"), backup::verify $(tail -n1 "$work/verify.m")  (s KiB)"
    done
    zip_size=$(stat -c %s "$work/out/z.zip")
    rb_size=$(stat -c %s "$archive")
    echo
    echo "tree create"
    line "zip -qr" zip "   $((zip_size / 1048576)) MiB"
    line "backup::create" create "   $((rb_size / 1048576)) MiB"
    ratios create zip
    python3 - "$(secs create)" "$(secs zip)" "$zip_size" "$rb_size" <<'P'
import sys
rt, zt = map(float, sys.argv[1:3]); zs, rs = map(int, sys.argv[3:5])
ok = lambda b: "ok" if b else "MISSED"
print(f"      targets: wall <= 0.70x {ok(rt / zt <= 0.70)}, size {rs / zs:.3f}x <= 1.05x {ok(rs / zs <= 1.05)}")
P
    echo "tree verify"
    line "unzip -tq" unzip
    line "backup::verify" verify
    ratios verify unzip
fi

if [ "$ONLY" != tree ]; then
    big="$data_parent/big"
    cat > "$work/big.rhai" <<EOF
//! @action
let b = backup::create("big", ["$big/app.log"], #{});
print(b.path);
EOF
    cat "$big/app.log" > /dev/null
    echo
    echo "big: one $(( $(stat -c %s "$big/app.log") / 1048576 )) MiB log; rounds: $ROUNDS"
    for round in $(seq 1 "$ROUNDS"); do
        rm -f "$work/out/big.zip" "$work/out/big.tgz" "$work/out/bk/"*.zip
        (cd "$big" && run bzip zip -q "$work/out/big.zip" app.log)
        (cd "$big" && run pigz sh -c "tar -cf - app.log | pigz > '$work/out/big.tgz'")
        (cd "$work" && run bcreate "$RB" run big.rhai)
        barchive=$(head -n 1 "$work/last.out")
        echo "round $round: zip $(tail -n1 "$work/bzip.m"), tar|pigz $(tail -n1 "$work/pigz.m"), backup::create $(tail -n1 "$work/bcreate.m")  (s KiB)"
    done
    echo
    echo "big create"
    line "zip -q" bzip "   $(( $(stat -c %s "$work/out/big.zip") / 1048576 )) MiB"
    line "tar -c | pigz" pigz "   $(( $(stat -c %s "$work/out/big.tgz") / 1048576 )) MiB"
    line "backup::create" bcreate "   $(( $(stat -c %s "$barchive") / 1048576 )) MiB"
    echo "    vs zip:";  ratios bcreate bzip
    echo "    vs pigz:"; ratios bcreate pigz
fi
echo
echo "floor"
line "runbook run (empty)" empty

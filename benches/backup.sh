#!/usr/bin/env bash
# Backup benchmark, side by side in one run on the same generated ~300 MB tree
# (a 200 MB Winston-style JSON log, 2000 random binaries of 0-100 KB, 500 small JSON configs):
#   create: `runbook run` of a script calling backup::create   vs  `zip -qr`
#           targets: wall time ≤ 0.7× zip's, archive ≤ 1.05× zip's size
#   verify: `runbook run` of a script calling backup::verify   vs  `unzip -tq`
#           target: wall time ≤ 1× unzip's
# Each command runs ROUNDS times (default 3), interleaved; the median wall time is reported.
# The data is read once beforehand so every command starts from a warm page cache.
#
# Usage: flock /work/bench.lock benches/backup.sh        (after `cargo build --release`)
#   BACKUP_BENCH_DATA=DIR  reuse (or create once) the generated tree in DIR
#   ROUNDS=N               rounds per command
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in zip unzip python3; do
    command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install -y zip unzip)" >&2; exit 2; }
done
cargo build --release --quiet --bin runbook
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
RB="$target_dir/release/runbook"
ROUNDS=${ROUNDS:-3}
gen="$PWD/benches/gen_backup_data.py"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
data_parent=${BACKUP_BENCH_DATA:-$work/src}
if [ ! -f "$data_parent/data/logs/combined.log" ]; then
    echo "generating the test tree in $data_parent/data ..." >&2
    mkdir -p "$data_parent"
    python3 "$gen" "$data_parent/data"
fi
data_parent=$(cd "$data_parent" && pwd)
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
cat > "$work/create.rhai" <<EOF
//! @action
let b = backup::create("bench", ["$data_parent/data"], #{});
print(b.path);
EOF

# Warm the page cache.
find "$data_parent/data" -type f -exec cat {} + > /dev/null
files=$(find "$data_parent/data" -type f | wc -l)
bytes=$(du -sb "$data_parent/data" | cut -f1)
echo "tree: $files files, $((bytes / 1048576)) MiB; $(nproc) cores; rounds: $ROUNDS"

now() { date +%s.%N; }
median() { python3 -c 'import sys,statistics; print(f"{statistics.median(float(x) for x in sys.argv[1:]):.3f}")' "$@"; }

zip_times=() ; rb_times=() ; unzip_times=() ; rbv_times=()
for round in $(seq 1 "$ROUNDS"); do
    rm -f "$work/out/z.zip" "$work/out/bk/"*.zip
    t0=$(now); (cd "$data_parent" && zip -qr "$work/out/z.zip" data); t1=$(now)
    zip_times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')")

    t0=$(now); out=$(cd "$work" && "$RB" run create.rhai); t1=$(now)
    archive=${out%%$'\n'*}
    rb_times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')")
    [ -f "$archive" ] || { echo "runbook create did not report an archive: $archive" >&2; exit 1; }

    cat > "$work/verify.rhai" <<EOF
//! @action
let v = backup::verify("$archive");
if !v.ok { fail(\`verify: \${v.bad}\`); }
EOF
    t0=$(now); unzip -tq "$work/out/z.zip" > /dev/null; t1=$(now)
    unzip_times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')")
    t0=$(now); (cd "$work" && "$RB" run verify.rhai > /dev/null); t1=$(now)
    rbv_times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')")
    echo "round $round: zip -r ${zip_times[-1]} s, backup::create ${rb_times[-1]} s, unzip -t ${unzip_times[-1]} s, backup::verify ${rbv_times[-1]} s"
done

zip_size=$(stat -c %s "$work/out/z.zip")
rb_size=$(stat -c %s "$archive")
zt=$(median "${zip_times[@]}"); rt=$(median "${rb_times[@]}")
ut=$(median "${unzip_times[@]}"); vt=$(median "${rbv_times[@]}")
python3 - "$zt" "$rt" "$ut" "$vt" "$zip_size" "$rb_size" <<'P'
import sys
zt, rt, ut, vt = map(float, sys.argv[1:5]); zs, rs = map(int, sys.argv[5:7])
def ok(b): return "ok" if b else "MISSED"
print()
print(f"create  zip -qr        {zt:7.3f} s   {zs/1048576:8.1f} MiB")
print(f"        backup::create {rt:7.3f} s   {rs/1048576:8.1f} MiB")
print(f"        time ratio {rt/zt:.2f}x (target <= 0.70x: {ok(rt/zt <= 0.70)}), size ratio {rs/zs:.3f}x (target <= 1.05x: {ok(rs/zs <= 1.05)})")
print(f"verify  unzip -tq      {ut:7.3f} s")
print(f"        backup::verify {vt:7.3f} s")
print(f"        time ratio {vt/ut:.2f}x (target <= 1.00x: {ok(vt/ut <= 1.0)})")
P

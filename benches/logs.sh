#!/usr/bin/env bash
# logs:: benchmark on a deterministic 1 GiB Winston JSON-lines log, printed side by side in one run:
#  1. logs::count of a literal vs `rg -c`            (target: ≥ 0.8× ripgrep's throughput)
#  2. error top (level error, by fingerprint) vs a Python json.loads aggregation
#     (target: ≥ 50× Python) and vs `rg -c` time      (target: ≤ 3× rg -c)
#  3. slow-request stats vs `grep 慢请求 | sort -k4 -n`
#  4. peak RSS of every runbook run (/usr/bin/time -v) (target: ≤ 64 MiB)
# Every logs:: figure goes through the real binary: `runbook run FILE.rhai --json`.
# Times are the median (and best) of interleaved runs on a warm page cache.
#
# Usage: flock /work/bench.lock benches/logs.sh [DATA_DIR]   (default ${TMPDIR:-/tmp}/runbook-logs-bench)
# Needs ripgrep (apt-get install -y ripgrep), python3, GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
command -v rg >/dev/null || { echo "install ripgrep: apt-get update && apt-get install -y ripgrep" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time" >&2; exit 2; }
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The target folder may be shared with other checkouts: copy this checkout's binary right after
# building it, and make sure the copy has logs:: (rebuild if another build replaced it first).
RB="$work/runbook"
for attempt in 1 2 3; do
  cargo build --release --quiet --bin runbook
  cp "$target_dir/release/runbook" "$RB"
  if "$RB" docs 2>/dev/null | grep -q "logs::stats"; then break; fi
  [ "$attempt" = 3 ] && { echo "the built runbook has no logs:: module" >&2; exit 2; }
  touch src/modules/logs.rs
done

data=${1:-${TMPDIR:-/tmp}/runbook-logs-bench}
mkdir -p "$data"
log="$data/combined.log"
size=$((1 << 30))
want_sum=f05cc98e7aeb36d7687c1408c9208ee3   # md5 of gen_winston.py's output for 1 GiB
if [ ! -f "$log" ] || [ "$(cat "$log.md5" 2>/dev/null)" != "$want_sum" ]; then
  echo "generating $log (1 GiB, deterministic; takes a few minutes once)…" >&2
  python3 "$repo/benches/gen_winston.py" "$log.tmp" "$size"
  sum=$(md5sum "$log.tmp" | cut -d' ' -f1)
  [ "$sum" = "$want_sum" ] || echo "note: generated data md5 $sum differs from the recorded $want_sum" >&2
  mv "$log.tmp" "$log"
  echo "$sum" > "$log.md5"
fi

export RUNBOOK_STATE_DIR="$work/state" RUNBOOK_CONFIG_DIR="$work/conf"
cd "$data"   # the built-in policy reads the current folder
cat > "$work/count.rhai" <<'R'
//! Count a literal.
//! @action
//! @param file: string = "combined.log"   log
//! @param pattern: string = "慢请求"       literal
print(logs::count(file, pattern));
R
cat > "$work/top.rhai" <<'R'
//! Top errors by fingerprint.
//! @action
//! @param file: string = "combined.log"   log
for e in logs::top(file, "", #{ level: "error", limit: 10 }) { print(`${e.count} ${e.key}`); }
R
cat > "$work/stats.rhai" <<'R'
//! Slow-request statistics.
//! @action
//! @param file: string = "combined.log"   log
let s = logs::stats(file, "慢请求", "(\\d+)ms");
print(`count ${s.count} min ${s.min} p50 ${s.p50} p95 ${s.p95} p99 ${s.p99} max ${s.max} avg ${s.avg}`);
R
head -c $((64 << 20)) "$log" > "$work/slice.log"
cat > "$work/agg.py" <<'P'
# The Python way: json.loads every line, keep errors, mask numbers/ids/IPs, count.
import collections, json, re, sys
mask = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?|\b[0-9a-f]{8,}\b|\d+(?:\.\d+)?")
c = collections.Counter()
with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
    for line in f:
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if d.get("level") == "error":
            c[mask.sub("<n>", d.get("message", ""))] += 1
for k, n in c.most_common(10):
    print(n, k)
P

echo "warming the page cache…" >&2
cat "$log" > /dev/null
echo "machine: $(nproc) CPU(s), load average $(cut -d' ' -f1-3 /proc/loadavg); file: $log ($(stat -c %s "$log") bytes)"
echo

python3 - "$RB" "$work" "$log" <<'P'
import os, re, statistics, subprocess, sys, time, json
rb, work, log = sys.argv[1], sys.argv[2], sys.argv[3]
size = os.path.getsize(log)
RUNS = 7

def run(cmd, shell=False):
    t = time.perf_counter()
    out = subprocess.run(cmd, shell=shell, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
    return time.perf_counter() - t, out.stdout.decode()

def interleaved(cmds):
    """Run each command RUNS times, interleaved, after one warm-up; median and best per command."""
    times = {name: [] for name in cmds}
    outs = {}
    for name, (cmd, shell) in cmds.items():
        outs[name] = run(cmd, shell)[1]
    for _ in range(RUNS):
        for name, (cmd, shell) in cmds.items():
            times[name].append(run(cmd, shell)[0])
    return {n: (statistics.median(t), min(t)) for n, t in times.items()}, outs

def rss(cmd):
    out = subprocess.run(["/usr/bin/time", "-v"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr.decode())
    return int(m.group(1)) / 1024

def rbcmd(script, *params):
    cmd = [rb, "run", f"{work}/{script}.rhai", "--json", "-p", f"file={log}"]
    for p in params:
        cmd += ["-p", p]
    return cmd

def output(js):
    return json.loads(js)["output"]

def fmt(t):
    return f"{t[0]*1000:8.0f} ms (best {t[1]*1000:.0f})"

gib = size / (1 << 30)
rss_rows = []
ok = True

print("== 1. count of a literal: logs::count vs rg -c ==")
for lit in ["慢请求", "JWT expired"]:
    t, o = interleaved({"runbook": (rbcmd("count", f"pattern={lit}"), False), "rg": (["rg", "-c", lit, log], False)})
    ours, theirs = int(output(o["runbook"])[0]), int(o["rg"].strip())
    ratio = t["rg"][0] / t["runbook"][0]
    print(f"  {lit!r:14} logs::count {fmt(t['runbook'])} = {gib / t['runbook'][0]:.2f} GiB/s   "
          f"rg -c {fmt(t['rg'])} = {gib / t['rg'][0]:.2f} GiB/s   throughput ratio {ratio:.2f}x (target ≥ 0.8x)   "
          f"counts {ours} / {theirs} {'equal' if ours == theirs else 'DIFFER'}")
    ok &= ratio >= 0.8 and ours == theirs
    rss_rows.append((f"count {lit}", rss(rbcmd("count", f"pattern={lit}"))))
rg_time = t["rg"][0]

print()
print("== 2. top errors by fingerprint: logs::top vs Python json.loads aggregation, and vs rg -c ==")
t, o = interleaved({"runbook": (rbcmd("top"), False), "rg": (["rg", "-c", "慢请求", log], False)})
slice_path = f"{work}/slice.log"
slice_size = os.path.getsize(slice_path)
py_times = [run(["python3", f"{work}/agg.py", slice_path])[0] for _ in range(3)]
py_slice = statistics.median(py_times)
py_full = py_slice * size / slice_size
print(f"  logs::top (level error, by fingerprint) {fmt(t['runbook'])}")
for line in output(o["runbook"])[:4]:
    print(f"      {line}")
print(f"  python json.loads aggregation: {py_slice*1000:.0f} ms on the first {slice_size >> 20} MiB, "
      f"scaled ×{size / slice_size:.1f} to the whole file = {py_full:.1f} s (timed on a slice and scaled)")
r1 = py_full / t["runbook"][0]
r2 = t["runbook"][0] / t["rg"][0]
print(f"  speed-up over Python {r1:.0f}x (target ≥ 50x);   top time / rg -c time {r2:.2f}x "
      f"(rg -c {t['rg'][0]*1000:.0f} ms; target ≤ 3x)")
ok &= r1 >= 50 and r2 <= 3
rss_rows.append(("top", rss(rbcmd("top"))))

print()
print("== 3. slow-request statistics: logs::stats vs grep 慢请求 | sort -k4 -n ==")
shell = f"grep 慢请求 '{log}' | sort -k4 -n > /dev/null"
t, o = interleaved({"runbook": (rbcmd("stats"), False), "grep|sort": (shell, True)})
print(f"  logs::stats {fmt(t['runbook'])}   {output(o['runbook'])[0]}")
print(f"  grep | sort -k4 -n {fmt(t['grep|sort'])}   ratio {t['grep|sort'][0] / t['runbook'][0]:.1f}x faster")
rss_rows.append(("stats", rss(rbcmd("stats"))))

print()
print("== 4. peak RSS (/usr/bin/time -v, whole runbook process; target ≤ 64 MiB) ==")
for name, mib in rss_rows:
    print(f"  {name:18} {mib:6.1f} MiB")
    ok &= mib <= 64
print()
print("all targets met" if ok else "SOME TARGETS MISSED")
P

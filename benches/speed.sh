#!/usr/bin/env bash
# Issue 14 comparisons, side by side in one run, each printed as a ratio against its peer tool
# plus the peak RSS of every runbook run (GNU time):
#  1. time windows: "errors since T" (T = the last ~1 % of a 256 MiB Winston log plus four rotated
#     .gz files) vs `rg -z -c` over the same files (which must read everything); all lines since T;
#     a window covering everything vs the same query without a window (target ≤ 1.05×);
#     `top` by field over the window.
#  2. many small files: logs::count over a glob of 20 000 small logs vs `rg -c` over the same files.
#  3. restore: backup::restore of a 20 000-file archive into an empty folder vs `unzip -q`.
#  4. line numbers: logs::search with line numbers vs `rg -n`.
# Every runbook figure goes through the real binary (`runbook run FILE.rhai --json`), medians of
# interleaved runs on a warm page cache. The machine may be shared: the ratios are what count.
#
# Usage: CARGO_LOCK=/work/cargo.lock flock /work/bench.lock benches/speed.sh [DATA_DIR]   (default ${TMPDIR:-/tmp}/runbook-speed-bench)
#        BIG=1 ... benches/speed.sh [DIR]: only the 4 GiB measurement of issue 14 (about 4.4 GB of disk in DIR,
#        default ${TMPDIR:-/tmp}/runbook-speed-big, made from DATA_DIR's 256 MiB live log and deleted afterwards
#        unless KEEP=1): "errors in the last ~1 %" of a 4 GiB Winston log plus 10 rotated .gz files
#        (target <= 50 ms), and top/stats over the 4 GiB log vs `rg -c`.
# Needs: apt-get install -y ripgrep zip unzip pigz hyperfine   (hyperfine/pigz optional), python3,
# GNU time at /usr/bin/time. Data is generated into DATA_DIR at the first run (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
for tool in rg unzip python3 gzip; do
    command -v "$tool" >/dev/null || { echo "needs $tool: apt-get install -y ripgrep zip unzip" >&2; exit 2; }
done
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time (apt-get install -y time)" >&2; exit 2; }
# CARGO_LOCK=FILE: run each cargo command under `flock FILE` (a machine shared by several builds).
cargo_() { if [ -n "${CARGO_LOCK:-}" ]; then flock "$CARGO_LOCK" cargo "$@"; else cargo "$@"; fi; }
target_dir=$(cargo_ metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
cargo_ build --release --quiet --bin runbook
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
RB="$work/runbook"
cp "$target_dir/release/runbook" "$RB"

if [ "${BIG:-0}" = 1 ]; then
    big=${1:-${TMPDIR:-/tmp}/runbook-speed-big}
    src=${DATA_DIR:-${TMPDIR:-/tmp}/runbook-speed-bench}/logs/combined.log
    [ -f "$src" ] || { echo "BIG=1 needs $src: run benches/speed.sh once first" >&2; exit 2; }
    mkdir -p "$big/logs"
    big=$(cd "$big" && pwd)
    [ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$work" "$big"' EXIT
    if [ ! -f "$big/logs/combined.log" ]; then
        echo "generating $big/logs: 16 x 256 MiB (one day each, 2026-11-01..16) + 10 rotated .gz (October)..." >&2
        for n in $(seq 1 10); do           # .10.gz is the oldest (2026-10-20), .1.gz 2026-10-29
            head -c $((48 << 20)) "$src" | head -n -1 \
                | sed "s/\"timestamp\":\"2026-11-29T/\"timestamp\":\"2026-10-$((30 - n))T/" \
                | gzip -1 > "$big/logs/combined.log.$n.gz"
        done
        for d in $(seq -w 1 16); do
            sed "s/\"timestamp\":\"2026-11-29T/\"timestamp\":\"2026-11-${d}T/" "$src"
        done > "$big/logs/combined.log"
    fi
    mkdir -p "$work/state" "$work/conf"
    export RUNBOOK_STATE_DIR="$work/state" RUNBOOK_CONFIG_DIR="$work/conf"
    printf '[policy]\nread = ["%s", "%s"]\ntimeout_s = 3600\nmax_memory_mb = 1024\n' "$big" "$work" > "$work/runbook.toml"
    cat "$big/logs/combined.log" > /dev/null
    echo "machine: $(nproc) CPU(s), load average $(cut -d' ' -f1-3 /proc/loadavg) (shared: ratios count, not times)"
    echo "logs: $(du -sb "$big/logs" | cut -f1) bytes in $(ls "$big/logs" | wc -l) files"
    python3 - "$RB" "$work" "$big/logs" <<'PY'
import json, os, re, statistics, subprocess, sys, time
rb, work, logs = sys.argv[1:4]
RUNS = int(os.environ.get("RUNS", "5"))
live = f"{logs}/combined.log"
def script(name, body):
    p = f"{work}/{name}.rhai"
    with open(p, "w") as f:
        f.write("//! @action\n" + body)
    return [rb, "run", p, "--json"]
def run(cmd, shell=False):
    t = time.perf_counter()
    out = subprocess.run(cmd, shell=shell, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t
    if out.returncode not in (0, 1):
        raise SystemExit(f"{cmd} failed ({out.returncode}): {out.stderr.decode()[-2000:]}")
    return dt, out.stdout.decode()
def interleaved(cmds):
    times = {n: [] for n in cmds}
    outs = {n: run(*c)[1] for n, c in cmds.items()}
    for _ in range(RUNS):
        for n, c in cmds.items():
            times[n].append(run(*c)[0])
    return {n: statistics.median(t) for n, t in times.items()}, outs
def rss(cmd):
    out = subprocess.run(["/usr/bin/time", "-v"] + cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr.decode()).group(1)) / 1024
out1 = lambda js: json.loads(js)["output"][0]
def line(label, ours, peer, peer_name, extra=""):
    print(f"  {label:44} runbook {ours*1000:8.1f} ms   {peer_name} {peer*1000:8.1f} ms   ratio {ours/peer:5.2f}x {extra}")
# T: the time of the first line after 99 % of the live file's bytes (the last ~1 %).
size = os.path.getsize(live)
with open(live, "rb") as f:
    f.seek(size * 99 // 100)
    f.readline()
    since = re.search(rb'"timestamp":"([^"]+)"', f.readline()).group(1).decode()
files = sorted((os.path.join(logs, x) for x in os.listdir(logs)), key=lambda p: (p == live, -len(p), p))
print(f"== BIG: errors since {since} (the last ~1 % of a {size / 2**30:.1f} GiB log) + 10 rotated .gz ==")
q = script("bigwin", f'print(logs::count("{logs}/combined.log*", "", #{{ level: "error", since: "{since}" }}));')
t, o = interleaved({"rb": (q,), "rg": (["rg", "-z", "-c", '"level":"error"'] + files,)})
line("errors in the last ~1 % vs rg -z -c (all)", t["rb"], t["rg"], "rg", f"(target <= 50 ms; {out1(o['rb'])} errors)")
print(f"  peak RSS {rss(q):.1f} MiB")
print(f"== BIG: top / stats over the {size / 2**30:.1f} GiB log vs rg -c ==")
q_top = script("bigtop", f'let t = logs::top("{live}", "", #{{ level: "error", limit: 10 }}); print(t.len());')
q_stats = script("bigstats", f'print(logs::stats("{live}", "慢请求", "(\\\\d+)ms").count);')
t, o = interleaved({"top": (q_top,), "stats": (q_stats,), "rg": (["rg", "-c", "慢请求", live],)})
line("top (level error, by fingerprint) vs rg -c", t["top"], t["rg"], "rg -c", "(target <= 1.0x)")
line("stats (慢请求, (\\d+)ms) vs rg -c", t["stats"], t["rg"], "rg -c", f"(target <= 1.0x; {out1(o['stats'])} values)")
print(f"  peak RSS top {rss(q_top):.1f} MiB, stats {rss(q_stats):.1f} MiB")
# Both cores busy to the end (no single-threaded merge tail): GNU time's CPU share of each run.
def cpu(cmd):
    out = subprocess.run(["/usr/bin/time", "-v"] + cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return int(re.search(r"Percent of CPU this job got: (\d+)%", out.stderr.decode()).group(1))
print(f"  CPU top {cpu(q_top)} %, stats {cpu(q_stats)} %, rg -c {cpu(['rg', '-c', '慢请求', live])} % (of {os.cpu_count()} cores: {100 * os.cpu_count()} % is all of them)")
PY
    exit 0
fi

data=${1:-${TMPDIR:-/tmp}/runbook-speed-bench}
mkdir -p "$data"
data=$(cd "$data" && pwd)
if [ ! -f "$data/logs/combined.log" ]; then
    echo "generating $data/logs (320 MiB Winston log, split into 4 rotated .gz + the live file)…" >&2
    mkdir -p "$data/logs"
    python3 "$repo/benches/gen_winston.py" "$data/all.log" $((320 << 20))
    python3 - "$data/all.log" "$data/logs" <<'P'
import gzip, sys
src, out = sys.argv[1], sys.argv[2]
chunk = 16 << 20
with open(src, "rb") as f:
    for n in (4, 3, 2, 1):                      # .4.gz is the oldest
        buf = f.read(chunk)
        buf += f.readline()                     # end on a line end
        with gzip.open(f"{out}/combined.log.{n}.gz", "wb", compresslevel=6) as g:
            g.write(buf)
    with open(f"{out}/combined.log", "wb") as live:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            live.write(b)
P
    rm -f "$data/all.log"
fi
if [ ! -d "$data/small" ]; then
    echo "generating $data/small (20 000 small logs in 100 folders)…" >&2
    python3 - "$data/small" <<'P'
import os, sys
root = sys.argv[1]
for d in range(100):
    p = os.path.join(root, f"svc{d:03d}")
    os.makedirs(p, exist_ok=True)
    for i in range(200):
        with open(os.path.join(p, f"app{i:03d}.log"), "w") as f:
            for k in range(20):
                lvl = "error" if (d + i + k) % 17 == 0 else "info"
                f.write(f'{{"level":"{lvl}","message":"GET /api/{d}/{i}/{k} 200 {k}ms","timestamp":"2026-11-29T09:{k:02d}:00.000Z"}}\n')
P
fi

mkdir -p "$work/out/bk" "$work/state" "$work/conf"
export RUNBOOK_STATE_DIR="$work/state" RUNBOOK_CONFIG_DIR="$work/conf"
cat > "$work/runbook.toml" <<EOF
[policy]
read = ["$data", "$work"]
write = ["$work/out"]
timeout_s = 3600
max_memory_mb = 1024

[backup]
dir = "$work/out/bk"
EOF
# The archive restored in section 3: the 20 000 small files, made once.
cat > "$work/mk.rhai" <<EOF
//! @action
print(backup::create("small", ["$data/small"], #{}).path);
EOF
archive=$(cd "$work" && "$RB" run mk.rhai --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["output"][0])')
[ -f "$archive" ] || { echo "could not create the archive for the restore benchmark: $archive" >&2; exit 1; }

echo "warming the page cache…" >&2
cat "$data"/logs/* > /dev/null
find "$data/small" -type f -exec cat {} + > /dev/null
echo "machine: $(nproc) CPU(s), load average $(cut -d' ' -f1-3 /proc/loadavg) (shared: ratios count, not times)"
echo "logs: $(du -sb "$data/logs" | cut -f1) bytes in $(ls "$data/logs" | wc -l) files; small: 20000 files; archive: $(stat -c %s "$archive") bytes"
echo

python3 - "$RB" "$work" "$data" "$archive" <<'P'
import json, os, re, shutil, statistics, subprocess, sys, time
rb, work, data, archive = sys.argv[1:5]
RUNS = int(os.environ.get("RUNS", "5"))
logs = f"{data}/logs"
live = f"{logs}/combined.log"

def script(name, body):
    p = f"{work}/{name}.rhai"
    with open(p, "w") as f:
        f.write("//! @action\n" + body)
    return [rb, "run", p, "--json"]

def run(cmd, shell=False, cwd=None):
    t = time.perf_counter()
    out = subprocess.run(cmd, shell=shell, cwd=cwd or work, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t
    if out.returncode not in (0, 1):     # rg -c exits 1 on no match
        raise SystemExit(f"{cmd} failed ({out.returncode}): {out.stderr.decode()[-2000:]}")
    return dt, out.stdout.decode()

def interleaved(cmds, prep=None):
    times = {n: [] for n in cmds}
    outs = {}
    for n, c in cmds.items():
        if prep: prep(n)
        outs[n] = run(*c)[1]
    for _ in range(RUNS):
        for n, c in cmds.items():
            if prep: prep(n)
            times[n].append(run(*c)[0])
    return {n: statistics.median(t) for n, t in times.items()}, outs

def rss(cmd):
    out = subprocess.run(["/usr/bin/time", "-v"] + cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr.decode())
    return int(m.group(1)) / 1024

def out1(js):
    return json.loads(js)["output"][0]

def line(label, ours, peer, peer_name, extra=""):
    print(f"  {label:44} runbook {ours*1000:8.1f} ms   {peer_name} {peer*1000:8.1f} ms   "
          f"ratio {ours/peer:5.2f}x {extra}")

# The time range of the live file: T = 1 % before its end.
def ts_of(raw):
    m = re.search(rb'"timestamp":"([^"]+)"', raw)
    return m.group(1).decode()
with open(live, "rb") as f:
    first = ts_of(f.readline())
    f.seek(-4096, 2)
    last = ts_of(f.read().splitlines()[-1])
import datetime
p = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
t0, t1 = p(first), p(last)
with open(f"{logs}/combined.log.4.gz", "rb") as f:
    import gzip
    t_oldest = p(ts_of(gzip.GzipFile(fileobj=f).readline()))
span = t1 - t_oldest
since = (t1 - span / 100).strftime("%Y-%m-%dT%H:%M:%S.000Z")
before_all = (t_oldest - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
glob = f"{logs}/combined.log*"
rss_rows = []

print(f"== 1. time windows (since {since}: the last 1 % of {t_oldest:%H:%M}–{t1:%H:%M}) ==")
q_win = script("win", f'print(logs::count("{glob}", "", #{{ level: "error", since: "{since}" }}));')
t, o = interleaved({"rb": (q_win,), "rg": (["rg", "-z", "-c", '"level":"error"'] + sorted(
    os.path.join(logs, x) for x in os.listdir(logs)),)})
rg_total = sum(int(x.rsplit(":", 1)[-1]) for x in o["rg"].split())
line("errors since T (window) vs rg -z -c (all)", t["rb"], t["rg"], "rg", f"(window count {out1(o['rb'])}, rg counts all {rg_total})")
rss_rows.append(("errors since T", rss(q_win)))
q_all_lines = script("winall", f'print(logs::count("{live}", "", #{{ since: "{since}" }}));')
t, o = interleaved({"rb": (q_all_lines,), "rg": (["rg", "-c", "", live],)})
line("all lines since T vs rg -c '' (whole file)", t["rb"], t["rg"], "rg", f"({out1(o['rb'])} lines)")
rss_rows.append(("all lines since T", rss(q_all_lines)))
q_wide = script("wide", f'print(logs::count("{glob}", "", #{{ level: "error", since: "{before_all}" }}));')
q_none = script("none", f'print(logs::count("{glob}", "", #{{ level: "error" }}));')
t, o = interleaved({"rb": (q_wide,), "full": (q_none,)})
line("window over everything vs no window", t["rb"], t["full"], "full scan", f"(target ≤ 1.05x; {out1(o['rb'])} = {out1(o['full'])})")
rss_rows.append(("window over everything", rss(q_wide)))
q_top = script("top", f'let t = logs::top("{live}", "", #{{ since: "{since}", limit: 5, by: "pid" }}); print(t.len());')
shell = f"rg -o '\"pid\":[0-9]+' '{live}' | sort | uniq -c > /dev/null"
t, o = interleaved({"rb": (q_top,), "pipe": (shell, True)})
line("top by field over the window vs rg|sort|uniq", t["rb"], t["pipe"], "rg -o|sort|uniq -c")
rss_rows.append(("top by field, window", rss(q_top)))

print()
print("== 2. many small files (20 000 files in 100 folders) ==")
q_small = script("small", f'print(logs::count("{data}/small/*/*.log", "error"));')
t, o = interleaved({"rb": (q_small,), "rg": (["rg", "-c", "error", f"{data}/small"],)})
rg_small = sum(int(x.rsplit(":", 1)[-1]) for x in o["rg"].split())
line("count over a glob vs rg -c", t["rb"], t["rg"], "rg", f"(target ≤ 1.0x; counts {out1(o['rb'])} / {rg_small})")
rss_rows.append(("small files count", rss(q_small)))

print()
print("== 3. restore of the 20 000-file archive into an empty folder ==")
q_restore = script("restore", f'print(backup::restore("{archive}", "{work}/out/r").restored);')
def prep(n):
    for d in ("r", "u"):
        shutil.rmtree(f"{work}/out/{d}", ignore_errors=True)
    os.makedirs(f"{work}/out/u", exist_ok=True)
t, o = interleaved({"rb": (q_restore,), "unzip": (["unzip", "-q", archive, "-d", f"{work}/out/u"],)}, prep)
line("backup::restore vs unzip -q", t["rb"], t["unzip"], "unzip", f"(target ≤ 1.0x; {out1(o['rb'])} files; staging, verify and swap included)")
prep("r")
rss_rows.append(("restore", rss(q_restore)))

print()
print("== 4. search with line numbers ==")
q_n = script("n", f'print(logs::search("{live}", "JWT expired", #{{ limit: 1000000 }}).total);')
t, o = interleaved({"rb": (q_n,), "rg": (["rg", "-n", "JWT expired", live],)})
line("search (line numbers, all matches kept) vs rg -n", t["rb"], t["rg"], "rg", f"(target ≤ 1.0x; {out1(o['rb'])} matches)")
rss_rows.append(("search -n", rss(q_n)))

print()
print("== peak RSS of each runbook run (/usr/bin/time -v; targets: ≤ 32 MiB log queries, ≤ 64 MiB + one file restore) ==")
for n, mib in rss_rows:
    print(f"  {n:28} {mib:7.1f} MiB")
P

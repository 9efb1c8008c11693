#!/usr/bin/env bash
# Engine benchmarks, printed side by side in one run:
#  1. start-up: `runbook run` of an empty runbook (target ≤ 10 ms median);
#  2. overhead of the sandbox (limits + deadline/Ctrl-C check in on_progress) on CPU-bound
#     scripts against a bare rhai::Engine (target ≤ 1.05×, issue 14 item 7), interleaved medians of
#     RUNS (default 10), next to the floor: the bare engine with an empty progress callback.
#  3. the same comparison in instructions (callgrind, if installed), which a shared machine does not disturb.
#  For where the overhead goes: cargo build --release --example overhead; target/release/examples/overhead FILE.rhai
# Needs hyperfine (apt-get install hyperfine). Usage: benches/engine.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "install hyperfine: apt-get install -y hyperfine" >&2; exit 2; }
cargo build --release --quiet --bin runbook --example bare_rhai
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
RB="$target_dir/release/runbook"
BARE="$target_dir/release/examples/bare_rhai"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export RUNBOOK_STATE_DIR="$work/state" RUNBOOK_CONFIG_DIR="$work/conf"
cd "$work"
printf '//! Empty.\n//! @action\n' > empty.rhai
cat > fib.rhai <<'R'
fn fib(n) { if n < 2 { n } else { fib(n - 1) + fib(n - 2) } }
print(fib(27));
R
cat > loop.rhai <<'R'
let sum = 0;
for i in 0..3000000 { sum += i % 7; }
let s = ""; for i in 0..20000 { s += i.to_string(); }
let m = #{}; for i in 0..50000 { m[`k${i % 1000}`] = i; }
print(sum + s.len() + m.len());
R
cat > primes.rhai <<'R'
let n = 300000; let sieve = []; sieve.pad(n + 1, true); let c = 0;
for i in 2..=n { if sieve[i] { c += 1; let j = i * i; while j <= n { sieve[j] = false; j += i; } } }
print(c);
R
printf '[policy]\nmax_operations = 100_000_000_000\n' > runbook.toml

echo "== start-up: empty runbook =="
hyperfine -N --warmup 5 --runs 50 --export-json startup.json "$RB run empty.rhai" >/dev/null
python3 - <<'P'
import json; r=json.load(open("startup.json"))["results"][0]
print(f"runbook run empty.rhai: median {r['median']*1000:.2f} ms, mean {r['mean']*1000:.2f} ms (target ≤ 10 ms median)")
P
# Interleaved rounds (bare, bare + empty callback, runbook, then again), medians: a shared machine
# slows all three alike instead of whichever hyperfine happened to be running.
python3 - "$BARE" "$RB" "${RUNS:-10}" <<'P'
import statistics, subprocess, sys, time
bare, rb, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
for s in ("fib", "primes", "loop"):
    cmds = {"bare": [bare, f"{s}.rhai"], "floor": [bare, "--progress", f"{s}.rhai"], "rb": [rb, "run", f"{s}.rhai"]}
    t = {k: [] for k in cmds}
    for _ in range(runs):
        for k, c in cmds.items():
            t0 = time.perf_counter()
            subprocess.run(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            t[k].append(time.perf_counter() - t0)
    m = {k: statistics.median(v) for k, v in t.items()}
    print(f"== CPU-bound: {s}.rhai ==")
    print(f"bare rhai {m['bare']*1000:.1f} ms, bare + empty callback {m['floor']*1000:.1f} ms, runbook {m['rb']*1000:.1f} ms: "
          f"ratio {m['rb']/m['bare']:.3f}x (target <= 1.05x; the callback floor alone {m['floor']/m['bare']:.3f}x)")
P
# Instructions instead of seconds: what the wall-clock ratios above measure, counted by callgrind
# (repeatable whatever else the machine does), on smaller inputs of the same scripts.
if command -v valgrind >/dev/null; then
  sed 's/fib(27)/fib(22)/' fib.rhai > fib_s.rhai
  sed 's/n = 300000/n = 100000/' primes.rhai > primes_s.rhai
  sed 's/0\.\.3000000/0..300000/' loop.rhai > loop_s.rhai
  echo "== instructions (callgrind), smaller inputs =="
  # (a script that only prints exits 6, inconclusive: the count is what matters here)
  count() { { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null || true; } | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
  # The floor: a bare engine with an empty progress callback (what Rhai itself adds per operation
  # once any callback is installed; runbook's callback is what ends a CPU-bound script on Ctrl-C,
  # the deadline or the memory budget). Start-up is subtracted from both sides.
  printf '' > nothing.rhai
  b0=$(count "$BARE" nothing.rhai); r0=$(count "$RB" run empty.rhai)
  for s in fib_s primes_s loop_s; do
    b=$(count "$BARE" "$s.rhai"); p=$(count "$BARE" --progress "$s.rhai"); r=$(count "$RB" run "$s.rhai")
    python3 -c "
b, p, r = $b - $b0, $p - $b0, $r - $r0
print(f'$s.rhai: bare {b:,}  bare + empty callback {p:,}  runbook {r:,} instructions (start-up subtracted): '
      f'runbook/bare {r/b:.3f}x = callback floor {p/b:.3f}x * runbook/floor {r/p:.3f}x')"
  done
fi

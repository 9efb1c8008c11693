#!/usr/bin/env bash
# Engine benchmarks, printed side by side in one run:
#  1. start-up: `runbook run` of an empty runbook (target ≤ 10 ms median);
#  2. overhead of the sandbox (limits + deadline/Ctrl-C check in on_progress) on CPU-bound
#     scripts against a bare rhai::Engine (target ≤ 1.05×, issue 14 item 7).
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
for s in fib primes loop; do
  echo "== CPU-bound: $s.rhai =="
  hyperfine -N -i --warmup 2 --runs 10 --export-json "$s.json" "$BARE $s.rhai" "$RB run $s.rhai" >/dev/null
  python3 - "$s" <<'P'
import json,sys; rs=json.load(open(sys.argv[1]+".json"))["results"]
bare, rb = rs[0]["median"], rs[1]["median"]
print(f"bare rhai {bare*1000:.1f} ms, runbook {rb*1000:.1f} ms, ratio {rb/bare:.3f}x (target ≤ 1.05x)")
P
done
# Instructions instead of seconds: what the wall-clock ratios above measure, counted by callgrind
# (repeatable whatever else the machine does), on smaller inputs of the same scripts.
if command -v valgrind >/dev/null; then
  sed 's/fib(27)/fib(22)/' fib.rhai > fib_s.rhai
  sed 's/n = 300000/n = 100000/' primes.rhai > primes_s.rhai
  sed 's/0\.\.3000000/0..300000/' loop.rhai > loop_s.rhai
  echo "== instructions (callgrind), smaller inputs =="
  # (a script that only prints exits 6, inconclusive: the count is what matters here)
  count() { { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null || true; } | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
  for s in fib_s primes_s loop_s; do
    b=$(count "$BARE" "$s.rhai"); r=$(count "$RB" run "$s.rhai")
    python3 -c "print(f'$s.rhai: bare {$b:,} runbook {$r:,} instructions, ratio {$r/$b:.3f}x')"
  done
fi

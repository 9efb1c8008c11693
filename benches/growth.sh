#!/usr/bin/env bash
# Growth of script data (issue 13 items 1–2), printed as ratios in one run:
#  1. linearity: array push, string append, map insert, pop and map remove at N and 4N items
#     (target: 4× the items within 5× the time, i.e. ratio ≤ 5.0);
#  2. runbook vs a bare rhai::Engine (benches/bare_rhai.rs) on the same growth scripts, with the
#     operation budget lifted in the policy (target ≤ 1.05×).
# Needs hyperfine (apt-get install hyperfine). Usage: benches/growth.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "install hyperfine: apt-get install -y hyperfine" >&2; exit 2; }
runs=${1:-5}
cargo build --release --quiet --bin runbook --example bare_rhai
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
RB="$target_dir/release/runbook"
BARE="$target_dir/release/examples/bare_rhai"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export RUNBOOK_STATE_DIR="$work/state" RUNBOOK_CONFIG_DIR="$work/conf"
cd "$work"
printf '[policy]\nmax_operations = 100_000_000_000\n' > runbook.toml

# name, N, body using N
gen() {
  local name=$1 n=$2
  case $name in
    push)   echo "let a = []; for i in 0..$n { a.push(i); } print(a.len());" ;;
    append) echo "let s = \"\"; for i in 0..$n { s += \"x\"; } print(s.len());" ;;
    insert) echo "let m = #{}; for i in 0..$n { m[\`k\${i}\`] = i; } print(m.len());" ;;
    pop)    echo "let a = []; a.pad($n, 1); let t = 0; while a.len() > 0 { t += a.pop(); } print(t);" ;;
    remove) echo "let m = #{}; for i in 0..$n { m[\`k\${i}\`] = i; } for i in 0..$n { m.remove(\`k\${i}\`); } print(m.len());" ;;
  esac
}

median() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]["median"])' "$@"; }

printf '%-7s %9s %9s %10s %10s %8s %8s\n' op "N=50k" "N=200k" "rb 50k" "rb 200k" "growth" "vs bare"
for op in push append insert pop remove; do
  gen $op 50000 > "${op}_50k.rhai"
  gen $op 200000 > "${op}_200k.rhai"
  for f in "${op}_50k" "${op}_200k"; do
    hyperfine -N -i --warmup 1 --runs "$runs" --export-json "$f.json" "$BARE $f.rhai" "$RB run $f.rhai" >/dev/null 2>&1
  done
  python3 - "$op" <<'P'
import json,sys
op=sys.argv[1]
def m(f,i): return json.load(open(f))["results"][i]["median"]
b1,r1=m(f"{op}_50k.json",0),m(f"{op}_50k.json",1)
b4,r4=m(f"{op}_200k.json",0),m(f"{op}_200k.json",1)
print(f"{op:<7} {b1*1000:7.1f}ms {b4*1000:7.1f}ms {r1*1000:8.1f}ms {r4*1000:8.1f}ms {r4/r1:7.2f}x {r4/b4:7.3f}x")
P
done
echo "growth = runbook time at 200k / at 50k (target ≤ 5.0); vs bare = runbook / bare rhai at 200k (target ≤ 1.05)"
echo "(bare columns: bare rhai; rb columns: runbook run)"

#!/usr/bin/env bash
# Host primitive benchmarks: the cost of one call of metrics::, http:: and tls:: functions from
# a runbook (release build), measured inside one run with Rhai's `timestamp()` so start-up is
# not counted. Servers are local: python3's http.server (a new connection per request, as it
# speaks HTTP/1.0) and `openssl s_server` with a throw-away self-signed certificate.
# Usage: benches/host.sh   (run it under `flock /work/bench.lock` on a shared machine)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v python3 >/dev/null || { echo "needs python3" >&2; exit 2; }
command -v openssl >/dev/null || { echo "needs openssl" >&2; exit 2; }
cargo build --release --quiet --bin runbook
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
RB="$target_dir/release/runbook"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
export RUNBOOK_STATE_DIR="$work/state" RUNBOOK_CONFIG_DIR="$work/conf"
cd "$work"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP_PORT=$(free_port)
TLS_PORT=$(free_port)
mkdir www && echo '{"status":"ok"}' > www/health
python3 -m http.server "$HTTP_PORT" --bind 127.0.0.1 --directory www >/dev/null 2>&1 &
pids+=($!)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=localhost \
  -keyout key.pem -out cert.pem >/dev/null 2>&1
openssl s_server -quiet -accept "$TLS_PORT" -cert cert.pem -key key.pem -www >/dev/null 2>&1 &
pids+=($!)
sleep 0.5

cat > bench.rhai <<R
fn per_call(label, n, t) {
    let ms = t.elapsed * 1000.0 / n.to_float();
    print(\`\${label}: \${(ms * 1000.0).round() / 1000.0} ms per call (\${n} calls)\`);
}
let n = 200;
let t = timestamp(); for i in 0..n { metrics::memory(); } per_call("metrics::memory()", n, t);
let t = timestamp(); for i in 0..n { metrics::disk("."); } per_call("metrics::disk(\".\")", n, t);
let t = timestamp(); for i in 0..n { metrics::connections($HTTP_PORT); } per_call("metrics::connections(port)", n, t);
let t = timestamp(); for i in 0..n { metrics::disks(); } per_call("metrics::disks()", n, t);
let t = timestamp(); for i in 0..5 { metrics::cpu(); } per_call("metrics::cpu() (sampling window 200 ms)", 5, t);
let t = timestamp(); for i in 0..5 { metrics::processes(#{ limit: 10 }); } per_call("metrics::processes() (sampling window 200 ms)", 5, t);
let t = timestamp(); for i in 0..n { http::get("http://127.0.0.1:$HTTP_PORT/health"); } per_call("http::get (new connection each)", n, t);
let t = timestamp(); for i in 0..n { http::check("http://127.0.0.1:$HTTP_PORT/health"); } per_call("http::check", n, t);
let t = timestamp(); for i in 0..50 { tls::cert("localhost:$TLS_PORT"); } per_call("tls::cert (handshake + parse + trust)", 50, t);
let t = timestamp(); for i in 0..n { tls::cert_file("cert.pem"); } per_call("tls::cert_file", n, t);
R
echo "== host primitives, release build, $(nproc) cores =="
"$RB" run bench.rhai

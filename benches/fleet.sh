#!/bin/sh
# Fleet fan-out cost on real hosts: HOSTS network namespaces (default 10), each with its own
# sshd, made here and removed on exit (root, `ip netns`, openssh-server: tests/fixtures/setup.sh).
# Prints (not timed assertions — ratios are what count on a shared machine):
#   1. health-check on 1 host vs on HOSTS hosts with --forks HOSTS: wall-time ratio (target ≤ 1.5×)
#   2. per-host transport overhead: fleet run on 1 host minus the same run locally, and one ssh
#      session over the multiplexed master vs one new ssh connection.
# Usage: benches/fleet.sh   (HOSTS=10 REPS=5 RUNBOOK_BIN=target/release/runbook KEX=… to override)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
N=${HOSTS:-10}
REPS=${REPS:-5}
if [ -z "${RUNBOOK_BIN:-}" ]; then
  (cd "$here" && cargo build --quiet)
  RUNBOOK_BIN="$here/target/debug/runbook"
fi
[ "$(id -u)" = 0 ] || { echo "fleet.sh: needs root for ip netns" >&2; exit 1; }
work=$(mktemp -d /tmp/runbook-fleetbench-XXXXXX)
mkdir -p /run/sshd
nss=""; veths=""; pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  for n in $nss; do ip netns del "$n" 2>/dev/null || true; done
  for v in $veths; do ip link del "$v" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

ssh-keygen -q -t ed25519 -N "" -f "$work/id"
cp "$work/id.pub" "$work/authorized_keys"
: > "$work/known_hosts"
: > "$work/ssh_config"
names=""
i=0; o=$(( ($$ % 150) + 20 ))
while [ "$i" -lt "$N" ]; do
  o=$((o + 1)); [ "$o" -gt 250 ] && o=20
  ip link add "rbb${o}h" type veth peer name "rbb${o}n" 2>/dev/null || continue
  i=$((i + 1))
  ns="rbb-$$-$o"; veths="$veths rbb${o}h"; nss="$nss $ns"
  ip netns add "$ns"
  ip link set "rbb${o}n" netns "$ns"
  ip addr add "10.231.$o.1/24" dev "rbb${o}h"; ip link set "rbb${o}h" up
  ip netns exec "$ns" ip addr add "10.231.$o.2/24" dev "rbb${o}n"
  ip netns exec "$ns" ip link set "rbb${o}n" up
  ip netns exec "$ns" ip link set lo up
  d="$work/b$i"; mkdir -p "$d/home" "$d/conf" "$d/state" "$d/bin"
  ln -s "$RUNBOOK_BIN" "$d/bin/runbook"
  ssh-keygen -q -t ed25519 -N "" -f "$d/hostkey"
  cat > "$d/sshd_config" <<CONF
Port 22
ListenAddress 10.231.$o.2
HostKey $d/hostkey
PidFile none
AuthorizedKeysFile $work/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 100
LogLevel ERROR
SetEnv HOME=$d/home RUNBOOK_CONFIG_DIR=$d/conf RUNBOOK_STATE_DIR=$d/state PATH=$d/bin:/usr/local/bin:/usr/bin:/bin
CONF
  ip netns exec "$ns" /usr/sbin/sshd -D -e -f "$d/sshd_config" 2>"$d/sshd.log" &
  pids="$pids $!"
  echo "10.231.$o.2 $(cut -d' ' -f1,2 "$d/hostkey.pub")" >> "$work/known_hosts"
  printf 'Host b%s\n  HostName 10.231.%s.2\n' "$i" "$o" >> "$work/ssh_config"
  names="${names:+$names,}b$i"
done
# KEX=curve25519-sha256 measures with a cheaper key exchange than OpenSSH 9's default
# (sntrup761x25519, post-quantum hybrid) — a choice for your ssh_config, not for runbook.
if [ -n "${KEX:-}" ]; then printf 'Host *\n  KexAlgorithms %s\n' "$KEX" >> "$work/ssh_config"; fi
cat >> "$work/ssh_config" <<CONF
Host *
  User root
  IdentityFile $work/id
  IdentitiesOnly yes
  UserKnownHostsFile $work/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  LogLevel ERROR
CONF
# Wait (poll, with a deadline) until every sshd answers.
deadline=$(( $(date +%s) + 20 ))
for h in $(echo "$names" | tr , ' '); do
  until ssh -F "$work/ssh_config" -o BatchMode=yes "$h" true 2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "fleet.sh: $h did not come up" >&2; exit 1; }
    sleep 0.05
  done
done

ms() { echo $(( $(date +%s%N) / 1000000 )); }
# median of REPS runs of "$@" in ms
median() {
  : > "$work/times"
  r=0
  while [ "$r" -lt "$REPS" ]; do
    t0=$(ms); "$@" >/dev/null 2>&1 || true; t1=$(ms)
    echo $((t1 - t0)) >> "$work/times"; r=$((r + 1))
  done
  sort -n "$work/times" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
export RUNBOOK_STATE_DIR="$work/controller-state"
cd "$work"
first=$(echo "$names" | cut -d, -f1)
local_ms=$(median "$RUNBOOK_BIN" run health-check --json)
one=$(median "$RUNBOOK_BIN" run health-check --json --hosts "$first" --ssh-config "$work/ssh_config")
all=$(median "$RUNBOOK_BIN" run health-check --json --hosts "$names" --forks "$N" --ssh-config "$work/ssh_config")
# The same with a runbook that does nothing but one check: the fan-out's own cost, without ten
# health-checks competing for this machine's cores (on real hosts each has its own).
mkdir -p runbooks
printf '//! One passing check.\ncheck("up", true, "");\n' > runbooks/bench-noop.rhai
noop_local=$(median "$RUNBOOK_BIN" run bench-noop --json)
noop_one=$(median "$RUNBOOK_BIN" run bench-noop --json --hosts "$first" --ssh-config "$work/ssh_config")
noop_all=$(median "$RUNBOOK_BIN" run bench-noop --json --hosts "$names" --forks "$N" --ssh-config "$work/ssh_config")
# Sessions: over one master vs new connections.
sock="$work/mux"
ssh -F "$work/ssh_config" -o BatchMode=yes -M -N -S "$sock" -o ControlPersist=no "$first" &
mpid=$!; pids="$pids $mpid"
until [ -S "$sock" ]; do sleep 0.02; done
S=20
t0=$(ms); k=0; while [ $k -lt $S ]; do ssh -F "$work/ssh_config" -S "$sock" -o ControlMaster=no "$first" true; k=$((k+1)); done; t1=$(ms)
mux=$(( (t1 - t0) / S ))
t0=$(ms); k=0; while [ $k -lt $S ]; do ssh -F "$work/ssh_config" -o BatchMode=yes -o ControlMaster=no -S none "$first" true; k=$((k+1)); done; t1=$(ms)
fresh=$(( (t1 - t0) / S ))
kill "$mpid" 2>/dev/null || true

echo "fleet benchmark: $N hosts (network namespaces, own sshd each), median of $REPS runs, binary $RUNBOOK_BIN, kex ${KEX:-default}"
echo "machine: $(nproc) cores (shared: absolute times vary, ratios count)"
echo "health-check locally:                 ${local_ms} ms"
echo "health-check on 1 host:               ${one} ms"
echo "health-check on $N hosts, --forks $N: ${all} ms"
awk -v a="$all" -v o="$one" 'BEGIN { r = a / o; printf "ratio %s hosts / 1 host:             %.2fx (target <= 1.5x) %s\n", "'"$N"'", r, (r <= 1.5 ? "OK" : "OVER") }'
echo "one-check runbook locally:            ${noop_local} ms"
echo "one-check runbook on 1 host:          ${noop_one} ms"
echo "one-check runbook on $N hosts:         ${noop_all} ms"
awk -v a="$noop_all" -v o="$noop_one" 'BEGIN { printf "ratio (fan-out cost alone):           %.2fx\n", a / o }'
echo "transport overhead per host (1 host - local): $((one - local_ms)) ms (master connect + version probe + bundle run)"
echo "one ssh session over the master:      ${mux} ms"
echo "one new ssh connection (no master):   ${fresh} ms"

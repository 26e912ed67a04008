#!/usr/bin/env bash
# The main job on the embedded default (Guizhou, 19,571 units below province):
# install, build, start a broker on loopback, bring up three real subscriber
# daemons and a terminal swarm for every other unit (one ZeroMQ connection per
# unit, spread over several processes), publish the sample directive, follow
# the acknowledgements and end with the audit summary.
#
# Every connection is CURVE-encrypted and authenticated: the demo generates
# the broker's key, the publisher's CURVE and signing keys, an auditor's key
# and each daemon's key, registers them in a key registry, and registers a key
# for every swarm unit derived from a seed (no private key is committed). The
# directive is signed, and the broker and the daemons verify it. --no-curve
# runs the same demo in open mode (no keys, for comparison).
#
# A public server (flatcast-public, docs/PUBLIC.md) runs beside the broker
# with a key of the public role: the demo shows the directive held from the
# public, releases it early (the publisher's emergency right), and prints
# the public page's address for a community, and a signature check.
#
# With --storm it then kills the broker (kill -9), restarts it on the same
# port, publishes 10 more directives while every terminal reconnects at once,
# and reports how long until every unit has all of them and has acknowledged.
#
# With --ha it runs a broker pair led through a real etcd (docs/HA.md)
# instead of one broker: every client is given both endpoints; right after
# the receipt, in the middle of the fan-out, the leader is killed (kill -9)
# and started again; the standby takes over, the old leader comes back as its
# standby, and the demo ends with every unit's acknowledgement durable on
# both stores and the audit at 100 %.
#
# With --national it runs the whole country instead (docs/RELAY.md): the
# national registry (665,276 units, fetched and built by
# scripts/build-registry.sh --all), a national broker, a relay for each of
# the 31 provinces, terminals for every unit of Guizhou, Ningxia and Hainan
# (the other provinces' terminals offline), one national directive published
# by a national publisher (unit 00), and the national rollup per province
# beside each relay's state (bench/national_bench.py --demo).
#
# Usage: scripts/demo.sh [--no-setup] [--shards N] [--region CODE] [--keep] [--storm] [--no-curve] [--ha] [--national]
set -euo pipefail
cd "$(dirname "$0")/.."

setup=1 shards=3 region=52 keep=0 storm=0 curve=1 ha=0 national=0
while [ $# -gt 0 ]; do
  case "$1" in
    --no-setup) setup=0 ;;
    --shards) shards=$2; shift ;;
    --region) region=$2; shift ;;
    --keep) keep=1 ;;
    --storm) storm=1 ;;
    --no-curve) curve=0 ;;
    --ha) ha=1 ;;
    --national) national=1 ;;
    *) echo "usage: $0 [--no-setup] [--shards N] [--region CODE] [--keep] [--storm] [--no-curve] [--ha] [--national]" >&2; exit 2 ;;
  esac
  shift
done

if [ "$setup" = 1 ]; then
  scripts/setup.sh
  scripts/build.sh
fi
if [ "$national" = 1 ]; then
  [ "$curve" = 1 ] || { echo "--national runs with CURVE only" >&2; exit 2; }
  [ -f build/registry-national.tsv ] || scripts/build-registry.sh --all build/registry-national.tsv
  keep_flag=()
  [ "$keep" = 1 ] && keep_flag=(--keep)
  exec python3 bench/national_bench.py --demo "${keep_flag[@]}"
fi
bin=build/bin
registry=configs/registry/guizhou-52.tsv
work=$(mktemp -d /tmp/flatcast-demo.XXXXXX)
pids=()
public_pid=""
cleanup() {
  for p in "${pids[@]}" $public_pid; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$keep" = 1 ]; then echo "demo files kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# Progress on one line on a terminal, a line each otherwise.
if [ -t 1 ]; then cr='\r'; else cr='\n'; fi
# Value of a numeric field in a one-line or pretty JSON text.
field() { grep -o "\"$1\": *[0-9]*" | head -n1 | grep -o '[0-9]*$'; }

daemons=(520102 520102016 520102016001)  # 南明区, 新华路街道, 纪念塔社区
exclude=$(IFS=,; echo "${daemons[*]}")
keys=$work/keys
# Options of each kind of peer: empty in open mode.
broker_sec=() publisher_sec=() audit_sec=() swarm_sec=() public_sec=()
if [ "$ha" = 1 ] && [ "$storm" = 1 ]; then echo "--ha and --storm are separate demos" >&2; exit 2; fi
if [ "$curve" = 0 ]; then
  mkdir -p "$keys"
  "$bin/flatcast-keys" generate --kind signing --out "$keys/release" >/dev/null
  broker_sec=(--public-signing-key "$keys/release.key")
fi
if [ "$curve" = 1 ]; then
  echo "== keys (generated now, in $keys; none is committed)"
  mkdir -p "$keys"
  k() { "$bin/flatcast-keys" "$@" >/dev/null; }
  k generate --kind curve --out "$keys/broker"
  # The broker's key, with the release key that signs public documents,
  # registered with the broker role (a pair shares both; docs/HA.md).
  k generate --kind signing --out "$keys/release"
  k register --registry "$keys/registry.toml" --name "broker-52" --role broker \
    --subject 52 --curve-pub "$keys/broker.pub" --signing-pub "$keys/release.pub"
  k generate --kind curve --out "$keys/public"
  k register --registry "$keys/registry.toml" --name public-1 --role public \
    --subject public-1 --curve-pub "$keys/public.pub"
  k generate --kind curve --out "$keys/publisher-curve"
  k generate --kind signing --out "$keys/publisher-sign"
  k register --registry "$keys/registry.toml" --name guizhou-health --role publisher \
    --subject guizhou-health --curve-pub "$keys/publisher-curve.pub" --signing-pub "$keys/publisher-sign.pub"
  k generate --kind curve --out "$keys/auditor"
  k register --registry "$keys/registry.toml" --name audit-office --role auditor \
    --subject audit-office --curve-pub "$keys/auditor.pub"
  for unit in "${daemons[@]}"; do
    k generate --kind curve --out "$keys/terminal-$unit"
    k register --registry "$keys/registry.toml" --name "terminal-$unit" --role unit \
      --subject "$unit" --curve-pub "$keys/terminal-$unit.pub"
  done
  k seed --out "$keys/swarm.seed"
  "$bin/flatcast-keys" register-units --registry "$keys/registry.toml" --seed "$keys/swarm.seed" \
    --units "$registry" --region "$region" --exclude "$exclude" | sed 's/^/   /'
  broker_sec=(--keys "$keys/registry.toml" --curve-key "$keys/broker.key"
              --public-signing-key "$keys/release.key")
  public_sec=(--curve-key "$keys/public.key" --broker-key "$keys/broker.pub")
  publisher_sec=(--curve-key "$keys/publisher-curve.key" --broker-key "$keys/broker.pub")
  audit_sec=(--curve-key "$keys/auditor.key" --broker-key "$keys/broker.pub")
  swarm_sec=(--key-seed "$keys/swarm.seed" --broker-key "$keys/broker.pub")
fi
# Runs the publisher CLI as guizhou-health (its key names it under CURVE).
publisher() { "$bin/flatcast-publisher" --broker "$endpoint" "${publisher_sec[@]}" --publisher guizhou-health "$@"; }
publish_sample() {
  local sign=()
  [ "$curve" = 1 ] && sign=(--signing-key "$keys/publisher-sign.key")
  publisher --json "${sign[@]}" publish --file configs/sample-directive.toml
}

start_broker() {  # $1: endpoint to bind
  "$bin/flatcast-broker" --init --data-dir "$work/broker" --registry "$registry" \
    --endpoint "$1" --endpoint-file "$work/endpoint" --publishers configs/publishers.toml \
    "${broker_sec[@]}" 2>>"$work/broker.log" &
  broker_pid=$!
  pids+=("$broker_pid")
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
declare -A pair_pid pair_endpoint pair_replication
start_pair_broker() {  # $1: a or b; $2: --init or empty
  "$bin/flatcast-broker" $2 --data-dir "$work/broker-$1" --registry "$registry" \
    --endpoint "${pair_endpoint[$1]}" --publishers configs/publishers.toml "${broker_sec[@]}" \
    --etcd "http://127.0.0.1:$etcd_port" --pair-group 52 --pair-name "$1" \
    --replication-endpoint "${pair_replication[$1]}" 2>>"$work/broker-$1.log" &
  pair_pid[$1]=$!
  pids+=("${pair_pid[$1]}")
}
# The pair as flatcast-audit cluster shows it; "leader" lines only.
leader_in_sync() {
  "$bin/flatcast-audit" --broker "${pair_endpoint[$1]}" "${audit_sec[@]}" --timeout-ms 1000 cluster \
    2>/dev/null | grep -q "role=leader .*in_sync=true"
}
if [ "$ha" = 1 ]; then
  etcd_port=$(free_port) etcd_peer=$(free_port)
  echo "== etcd (one member on 127.0.0.1:$etcd_port, data in $work/etcd)"
  etcd --name demo --data-dir "$work/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" --listen-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "demo=http://127.0.0.1:$etcd_peer" >"$work/etcd.log" 2>&1 &
  pids+=($!)
  for name in a b; do
    pair_endpoint[$name]="tcp://127.0.0.1:$(free_port)"
    pair_replication[$name]="tcp://127.0.0.1:$(free_port)"
  done
  echo "== broker pair a (${pair_endpoint[a]}) and b (${pair_endpoint[b]}), replication sync"
  start_pair_broker a --init
  for _ in $(seq 1 300); do grep -q "leads group" "$work/broker-a.log" 2>/dev/null && break; sleep 0.1; done
  start_pair_broker b --init
  for _ in $(seq 1 300); do leader_in_sync a && break; sleep 0.2; done
  leader_in_sync a || { cat "$work/broker-a.log" "$work/broker-b.log"; exit 1; }
  endpoint="${pair_endpoint[a]},${pair_endpoint[b]}"
  "$bin/flatcast-audit" --broker "$endpoint" "${audit_sec[@]}" cluster | sed 's/^/   /'
else
  echo "== broker (registry $registry, data in $work/broker)"
  start_broker "tcp://127.0.0.1:*"
  for _ in $(seq 1 300); do [ -s "$work/endpoint" ] && break; sleep 0.1; done
  [ -s "$work/endpoint" ] || { cat "$work/broker.log"; exit 1; }
  endpoint=$(cat "$work/endpoint")
  echo "   listening on $endpoint"
fi

public_endpoints=$endpoint
[ "$ha" = 1 ] && public_endpoints="${pair_endpoint[a]} --broker ${pair_endpoint[b]}"
echo "== public server (flatcast-public, its own copy in $work/public)"
# shellcheck disable=SC2086
"$bin/flatcast-public" --broker $public_endpoints --data-dir "$work/public" --registry "$registry" \
  --listen 127.0.0.1:0 --listen-file "$work/public.url" "${public_sec[@]}" 2>"$work/public.log" &
public_pid=$!
for _ in $(seq 1 100); do [ -s "$work/public.url" ] && break; sleep 0.1; done
public_url=$(cat "$work/public.url")
echo "   serving on $public_url"

echo "== subscriber daemons: ${daemons[*]}"
for unit in "${daemons[@]}"; do
  terminal_sec=()
  [ "$curve" = 1 ] && terminal_sec=(--keys "$keys/registry.toml" --curve-key "$keys/terminal-$unit.key" --broker-key "$keys/broker.pub")
  "$bin/flatcast-subscriber" run --unit "$unit" --broker "$endpoint" \
    --state-dir "$work/terminal-$unit" "${terminal_sec[@]}" 2>"$work/terminal-$unit.log" &
  pids+=($!)
done

echo "== terminal swarm: every other unit below $region in $shards processes"
# As operators would: shard 0 also confirms and is ready at once, shard 1
# confirms, the others only receive; every unit answers the return form.
levels=(--ack-levels confirmed,ready)
for i in $(seq 0 $((shards - 1))); do
  [ "$i" = 1 ] && levels=(--ack-levels confirmed)
  [ "$i" -ge 2 ] && levels=()
  "$bin/flatcast-swarm" --registry "$registry" --endpoint "$endpoint" --region "$region" --tiers city,district,street,community \
    --shard "$i" --shards "$shards" --exclude "$exclude" "${swarm_sec[@]}" "${levels[@]}" --answer-forms --expect $((1 + 10 * storm)) --timeout-s 600 \
    --report "$work/swarm-$i.json" >"$work/swarm-$i.out" 2>"$work/swarm-$i.log" &
  pids+=($!)
done

# Swarm progress: the sum of a field over the last progress line of each shard.
swarm_sum() {
  local total=0 v
  for i in $(seq 0 $((shards - 1))); do
    v=$(tail -n1 "$work/swarm-$i.out" 2>/dev/null | grep -o "\"$1\":[0-9]*" | grep -o '[0-9]*$' || true)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
start=$(date +%s)
while :; do
  units=$(swarm_sum units) welcomed=$(swarm_sum welcomed)
  [ "$welcomed/$units" != "${shown:-}" ] && printf "$cr   connected %s of %s swarm terminals" "$welcomed" "$units"
  shown="$welcomed/$units"
  [ "$units" -gt 0 ] && [ "$welcomed" = "$units" ] && break
  if [ $(($(date +%s) - start)) -gt 300 ]; then echo; echo "swarm did not connect"; exit 1; fi
  sleep 1
done
echo " ($(($(date +%s) - start)) s)"

echo "== publish configs/sample-directive.toml$([ "$curve" = 1 ] && echo " (signed by guizhou-health)")"
publish_sample >"$work/receipt.json"
cat "$work/receipt.json"
id=$(grep -o '"id": *"[^"]*"' "$work/receipt.json" | sed 's/.*"\([^"]*\)"$/\1/')
addressed=$(field addressed_units <"$work/receipt.json")
if [ "$ha" = 1 ]; then
  echo "== failover: kill -9 the leader (a) in the middle of the fan-out, start it again"
  kill -9 "${pair_pid[a]}"; wait "${pair_pid[a]}" 2>/dev/null || true
  kill_at=$(date +%s%N)
  start_pair_broker a ""
  # Either may take the key: b, in sync when a died, or a itself, restarted
  # with everything it confirmed (the sync record names both).
  leads=""
  for _ in $(seq 1 600); do
    for name in b a; do leader_in_sync $name && leads=$name; done
    [ -n "$leads" ] && break
    sleep 0.1
  done
  [ -n "$leads" ] || { echo "   no leader with a standby in sync"; tail -n 20 "$work/broker-a.log" "$work/broker-b.log"; exit 1; }
  echo "   $leads leads with its standby in sync $(( ($(date +%s%N) - kill_at) / 1000000 )) ms after the kill"
  # The CLIs below ask the leader first (a client remembers where it was answered).
  other=a; [ "$leads" = a ] && other=b
  endpoint="${pair_endpoint[$leads]},${pair_endpoint[$other]}"
  "$bin/flatcast-audit" --broker "$endpoint" "${audit_sec[@]}" cluster | sed 's/^/   /'
fi

echo "== acknowledgements"
while :; do
  publisher --json --timeout-ms 30000 status "$id" >"$work/status.json"
  acked=$(field acknowledged <"$work/status.json")
  [ "$acked" != "${shown:-}" ] && printf "$cr   %s of %s units acknowledged" "$acked" "$addressed"
  shown=$acked
  [ "$acked" = "$addressed" ] && break
  sleep 0.5
done
echo
echo "   last acknowledgement durable $(field last_ack_after_ms <"$work/status.json") ms after publish"
[ "$ha" = 1 ] && echo "   every unit acknowledged, durable on both brokers, $(( ($(date +%s%N) - kill_at) / 1000000 )) ms after the kill"
swarm_pids=("${pids[@]:$((4 + 2 * ha)):$shards}")
kill -0 "$public_pid" 2>/dev/null || { echo "the public server stopped"; cat "$work/public.log"; exit 1; }
[ "$storm" = 1 ] || for i in $(seq 0 $((shards - 1))); do wait "${swarm_pids[$i]}" || echo "swarm shard $i failed"; done

echo "== operators at the real terminals"
sub() { "$bin/flatcast-subscriber" "$@"; }
sub confirm "$id" --state-dir "$work/terminal-520102" | sed 's/^/   520102: /'
sub ready "$id" --state-dir "$work/terminal-520102016001" --note "口罩200个、消毒液20瓶已到位，2人值守" | sed 's/^/   520102016001: /'
sub rate "$id" --state-dir "$work/terminal-520102016001" --clarity 4 --feasibility 2 \
  --comment "48小时内补齐测温设备有困难" | sed 's/^/   520102016001: /'
sub rate "$id" --state-dir "$work/terminal-520102016" --clarity 5 --feasibility 4 | sed 's/^/   520102016: /'
sub return "$id" --state-dir "$work/terminal-520102016001" --field masks=200 --field disinfectant=20 \
  --field staff_on_duty=2 --field thermometers_ok=否 --field risk=中 --field shortage=测温枪 \
  | sed 's/^/   520102016001: /'
sub return "$id" --state-dir "$work/terminal-520102016" --field masks=1500 --field disinfectant=120 \
  --field staff_on_duty=6 --field thermometers_ok=是 | sed 's/^/   520102016: /'
sub return "$id" --state-dir "$work/terminal-520102" --field masks=8000 --field disinfectant=600 \
  --field staff_on_duty=25 --field thermometers_ok=是 --field risk=低 | sed 's/^/   520102: /'
sleep 1

audit() { "$bin/flatcast-audit" --broker "$endpoint" "${audit_sec[@]}" "$@"; }
echo "== audit: coverage tree (province → city), every level"
audit rollup "$id" --depth city
echo "== audit: who in 新华路街道 is not ready yet"
audit missing "$id" --level ready --region 520102016
echo "== audit: latency from sending to each level"
audit latency "$id"
echo "== audit: one community's history"
audit unit 520102016001
echo "== audit: the communities' ratings by department"
audit ratings
echo "== audit: the return form, summed by city (each unit's latest answer; shortages listed)"
audit returns "$id" --by city --list 3
echo "== audit: the log's hash chain"
audit verify
echo "== a real terminal's inbox (520102016001 纪念塔社区)"
sub list --state-dir "$work/terminal-520102016001"

echo "== the public: held for the lead time, then released early"
count_public() { curl -s "$public_url/public/directives?region=520102016001" | grep -c '"id"' || true; }
echo "   public directives for 纪念塔社区 now: $(count_public) (internal first: public in 12 h)"
publisher release "$id" --reason "demo: the public needs it now" | sed 's/^/   /'
for _ in $(seq 1 100); do [ "$(count_public)" -gt 0 ] && break; sleep 0.1; done
public_id=$(curl -s "$public_url/public/directives?region=520102016001" | grep -o '"id":"[^"]*"' | head -n1 | cut -d'"' -f4)
echo "   released as $public_id; the community's page: $public_url/public/page?region=520102016001"
"$bin/flatcast-keys" verify-public "$public_url/public/directives/$public_id" | sed 's/^/   /'

if [ "$storm" = 1 ]; then
  echo "== storm: kill -9 the broker, restart it, publish 10 directives while all reconnect"
  kill -9 "$broker_pid"; wait "$broker_pid" 2>/dev/null || true
  storm_start=$(date +%s%N)
  start_broker "$endpoint"
  for _ in $(seq 1 300); do grep -q "listening" "$work/broker.log" && break; sleep 0.1; done
  ids=()
  for n in $(seq 1 10); do
    publish_sample >"$work/receipt-$n.json"
    ids+=("$(grep -o '"id": *"[^"]*"' "$work/receipt-$n.json" | sed 's/.*"\([^"]*\)"$/\1/')")
  done
  for i in $(seq 0 $((shards - 1))); do wait "${swarm_pids[$i]}" || echo "swarm shard $i failed"; done
  swarm_done=$(date +%s%N)
  for id in "${ids[@]}"; do
    publisher --json --timeout-ms 30000 status "$id" >"$work/status.json"
    acked=$(field acknowledged <"$work/status.json")
    [ "$acked" = "$addressed" ] || echo "   $id: only $acked of $addressed acknowledged"
  done
  echo "   every swarm terminal has all 11 directives, acknowledged, $(( (swarm_done - storm_start) / 1000000 )) ms after the restart"
fi
if [ "$keep" = 1 ]; then
  echo "== kept running (Ctrl-C stops): the public page $public_url/public/page?region=520102016001"
  wait "$public_pid"
fi

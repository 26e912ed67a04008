#!/usr/bin/env bash
# Writes the seeds of fuzz_operator_request, fuzz_broker_query,
# fuzz_feed_request, fuzz_registry_large and fuzz_key_registry_large
# (fuzz/corpus/<target>/): protobuf text encoded with protoc --encode, raw
# HTTP requests, registry fragments. Run from anywhere.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
enc() {  # enc MESSAGE TARGET FILE < text
  mkdir -p "$root/fuzz/corpus/$2"
  protoc --encode="flatcast.v1.$1" -I"$root/proto" -I/usr/include \
    "$root/proto/flatcast.proto" >"$root/fuzz/corpus/$2/$3"
}
op() { enc OperatorRequest fuzz_operator_request "$@"; }
op confirm.bin <<'EOF'
action: CONFIRM directive_id: "52-HEALTH-20261128-0001"
EOF
op ready.bin <<'EOF'
action: READY directive_id: "52-HEALTH-20261128-0001" note: "two staff on duty"
EOF
op rate.bin <<'EOF'
action: RATE directive_id: "52-HEALTH-20261128-0001" clarity: 4 feasibility: 2 comment: "not enough masks"
EOF
op rate-out-of-range.bin <<'EOF'
action: RATE directive_id: "52-HEALTH-20261128-0001" clarity: 9 feasibility: 0
EOF
op status.bin <<'EOF'
action: STATUS
EOF
op return.bin <<'EOF'
action: RETURN directive_id: "52-HEALTH-20261128-0001" fields: "masks=1200" fields: "risk=2"
EOF
op return-bad.bin <<'EOF'
action: RETURN directive_id: "52-HEALTH-20261128-0001" fields: "masks=-5" fields: "gloves=1" fields: "risk"
EOF
op unknown-directive.bin <<'EOF'
action: CONFIRM directive_id: "52-HEALTH-20261128-0404"
EOF

q() { enc Envelope fuzz_broker_query "$@"; }
q coverage.bin <<'EOF'
protocol_version: 1 correlation_id: 3 coverage_query { directive_id: "52-HEALTH-20261128-0001" region: "5201" max_missing: 10 }
EOF
q returns.bin <<'EOF'
protocol_version: 1 audit_request { returns { directive_id: "52-HEALTH-20261128-0001" region: "5201" by: STREET max_units: 5 below { key: "masks" value: 500 } } }
EOF
q events.bin <<'EOF'
protocol_version: 1 events_query { directive_id: "52-HEALTH-20261128-0001" }
EOF
q rollup.bin <<'EOF'
protocol_version: 1 audit_request { rollup { directive_id: "52-HEALTH-20261128-0001" depth: STREET } }
EOF
q missing.bin <<'EOF'
protocol_version: 1 audit_request { missing { directive_id: "52-HEALTH-20261128-0001" region: "520102" level: CONFIRMED offset: 1 limit: 2 } }
EOF
q latency.bin <<'EOF'
protocol_version: 1 audit_request { latency { directive_id: "52-HEALTH-20261128-0001" } }
EOF
q unit-history.bin <<'EOF'
protocol_version: 1 audit_request { unit_history { unit_code: "520102001001" } }
EOF
q log.bin <<'EOF'
protocol_version: 1 audit_request { log { since { seconds: 1795852800 } until { seconds: 1795939200 } limit: 2 } }
EOF
q log-bad-times.bin <<'EOF'
protocol_version: 1 audit_request { log { since { seconds: -62135596801 } until { seconds: 253402300800 nanos: -1 } } }
EOF
q readiness.bin <<'EOF'
protocol_version: 1 audit_request { readiness { directive_id: "52-HEALTH-20261128-0001" region: "52" } }
EOF
q ratings.bin <<'EOF'
protocol_version: 1 audit_request { ratings { by: DIRECTIVE comments: 5 } }
EOF
q burden.bin <<'EOF'
protocol_version: 1 audit_request { burden { region: "5201" by: UNIT } }
EOF
q verify.bin <<'EOF'
protocol_version: 1 audit_request { verify { anchor_log_seq: 1 anchor_hash: "00" } }
EOF

http="$root/fuzz/corpus/fuzz_feed_request"
mkdir -p "$http"
printf 'GET /public/directives HTTP/1.1\r\nHost: feed\r\n\r\n' >"$http/list"
printf 'GET /public/directives/52-HEALTH-20261128-P0001/cap.xml?x=1 HTTP/1.1\r\nHost: feed\r\n\r\n' >"$http/cap"
printf 'HEAD /public/feed.atom HTTP/1.0\r\n\r\n' >"$http/atom-head"
printf 'GET /public/directives HTTP/1.1\r\nIf-None-Match: "g7"\r\nConnection: close\r\n\r\n' >"$http/etag"
printf 'POST /public/directives HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello' >"$http/post"
printf 'GET /public/directives HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' >"$http/chunked"
printf 'GET /public/directives?region=520102001001 HTTP/1.1\r\nHost: feed\r\n\r\n' >"$http/region"
printf 'GET /public/page?region=5201&x=1 HTTP/1.1\r\nIf-None-Match: "h2"\r\n\r\n' >"$http/page"
printf 'GET /public/events?region=52 HTTP/1.1\r\nLast-Event-ID: 1\r\n\r\n' >"$http/events"
printf 'GET /public/events HTTP/1.1\r\nLast-Event-ID: 99999999999999999999\r\n\r\n' >"$http/events-bad"
printf 'GET /public/directives/52-HEALTH-20261128-P0002/signature HTTP/1.1\r\n\r\n' >"$http/signature"
printf 'GET /.well-known/flatcast/keys.json HTTP/1.1\r\n\r\n' >"$http/keys"
printf 'GET /public/feed.atom?region=99 HTTP/1.1\r\n\r\n' >"$http/unknown-region"

# What a broker sends a public server (docs/PUBLIC.md).
p() { enc Envelope fuzz_public_link "$@"; }
p welcome.bin <<'EOF'
protocol_version: 1 public_welcome { head: 2 heartbeat_interval_ms: 5000 keys { key_id: "0123456789abcdef" public_key: "0123456789abcdef0123456789abcdef" holder: "broker-52" } }
EOF
p batch.bin <<'EOF'
protocol_version: 1 public_batch { after: 0 last: 2 head: 2 documents { public_seq: 1 public_id: "52-HEALTH-20261128-P0001" version: 1 scope: "5201" json: "{\"id\":\"52-HEALTH-20261128-P0001\",\"title\":\"Masks <b>\",\"body\":\"x\\ny\",\"actions\":[{\"what\":\"Post\"}],\"status\":\"Exercise\",\"released\":\"2026-11-28T20:00:00Z\"}" cap: "<alert/>" } documents { public_seq: 2 public_id: "52-HEALTH-20261128-P0002" version: 2 cancelled: true scope: "00" json: "{\"id\":\"52-HEALTH-20261128-P0002\",\"expires\":\"2026-12-28T20:00:00Z\"}" } }
EOF
p out-of-order.bin <<'EOF'
protocol_version: 1 public_batch { after: 3 last: 2 documents { public_seq: 1 public_id: "../x" json: "[]" } }
EOF
p heartbeat.bin <<'EOF'
protocol_version: 1 public_batch { after: 5 last: 5 head: 9 }
EOF

reg="$root/fuzz/corpus/fuzz_registry_large"
mkdir -p "$reg"
printf '\x80\x00520102999\tstreet\tnew street\n' >"$reg/new-street"
printf '\x10\x005201\tcity\tduplicate\n' >"$reg/duplicate"
printf '\xff\xff529999999999\tcommunity\torphan\n' >"$reg/orphan"

keys="$root/fuzz/corpus/fuzz_key_registry_large"
mkdir -p "$keys"
printf '\x40\x00[[key]]\nname = "x"\nrole = "unit"\n' >"$keys/half-key"
printf '\x00\x00# nothing\n' >"$keys/comment"

# The key registry's binary form: its magic line, then length-delimited
# KeyRegistryEntry messages (each shorter than 128 bytes: a one-byte length).
kr="$root/fuzz/corpus/fuzz_key_registry"
entry() {  # entry < text: one delimited KeyRegistryEntry on stdout
  local bytes
  bytes="$(mktemp)"
  protoc --encode=flatcast.v1.KeyRegistryEntry -I"$root/proto" -I/usr/include \
    "$root/proto/flatcast.proto" >"$bytes"
  printf "\\x$(printf %02x "$(stat -c %s "$bytes")")"
  cat "$bytes"
  rm -f "$bytes"
}
{
  printf 'FLATCAST-KEYS-1\n'
  entry <<'EOF'
name: "guiyang-health" role: "publisher" subject: "guiyang-health" kind: "curve"
public_key: "0123456789abcdef0123456789abcdef" added { seconds: 1795852800 }
EOF
  entry <<'EOF'
name: "unit-520102001001" role: "unit" subject: "520102001001" kind: "curve"
public_key: "fedcba9876543210fedcba9876543210" added { seconds: 1795852800 }
revoked_at { seconds: 1795939200 }
EOF
  entry <<'EOF'
name: "unit-520102001002" role: "unit" subject: "520102001002" kind: "curve"
public_key: "ffffffffffffffffffffffffffffffff" added { seconds: 1795852800 }
EOF
} >"$kr/binary-three-keys"

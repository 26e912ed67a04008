#!/usr/bin/env bash
# Writes the seed envelopes of fuzz_wire_decode (fuzz/corpus/fuzz_wire_decode/)
# from protobuf text format with protoc --encode. Run from anywhere.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/fuzz/corpus/fuzz_wire_decode"
mkdir -p "$out"
enc() {
  protoc --encode=flatcast.v1.Envelope -I"$root/proto" -I/usr/include \
    "$root/proto/flatcast.proto" >"$out/$1"
}
enc hello.bin <<'EOF'
protocol_version: 1
correlation_id: 7
hello { unit_code: "520102001001" last_seq: 3 }
EOF
enc deliver.bin <<'EOF'
protocol_version: 1
deliver { directive {
  seq: 1 addressed_units: 5 publisher: "guiyang-health" idempotency_key: "k1"
  directive {
    format_version: 1 id: "5201-CITY_HEALTH-20261128-0001" issuer_unit: "5201"
    issuer_department: "CITY_HEALTH" title: "Close wet markets" body: "All wet markets close at noon."
    actions { what: "Post notices" responsible_tier: COMMUNITY due { seconds: 1796112000 } }
    actions { what: "Check stock" responsible_tier: STREET internal: true }
    scope: "5201" target_tiers: DISTRICT target_tiers: COMMUNITY status: ACTUAL
    created { seconds: 1795852800 } sent { seconds: 1795856400 nanos: 5000 }
    is_public: true public_release { seconds: 1795899600 } version: 1 msg_type: ALERT
    internal_note: "staff only" references: "5201-CITY_HEALTH-20261127-0003"
  } } }
EOF
enc ack.bin <<'EOF'
protocol_version: 1
correlation_id: 9
ack { seq: 1 directive_id: "5201-CITY_HEALTH-20261128-0001" version: 1 level: RECEIVED acked { seconds: 1795856401 } }
EOF
enc publish.bin <<'EOF'
protocol_version: 1
correlation_id: 11
publish {
  idempotency_key: "abc" publisher: "guiyang-health" emergency: true emergency_reason: "flood"
  directive {
    issuer_unit: "5201" issuer_department: "CITY_HEALTH" title: "Boil water"
    actions { what: "Tell residents" responsible_tier: COMMUNITY }
    scope: "520102" target_tiers: COMMUNITY status: EXERCISE is_public: true
    public_release { seconds: 1795860000 }
  } }
EOF
enc lifecycle.bin <<'EOF'
protocol_version: 1
correlation_id: 12
lifecycle { action: AMEND directive_id: "5201-CITY_HEALTH-20261128-0001" reason: "typo" publisher: "guiyang-health"
  directive { issuer_unit: "5201" issuer_department: "CITY_HEALTH" title: "Close wet markets (amended)"
    actions { what: "Post notices" responsible_tier: COMMUNITY } scope: "5201" target_tiers: COMMUNITY status: ACTUAL } }
EOF
enc receipt.bin <<'EOF'
protocol_version: 1
correlation_id: 11
receipt { id: "5201-CITY_HEALTH-20261128-0001" seq: 1 addressed_units: 5 sent { seconds: 1795856400 } }
EOF
enc coverage_reply.bin <<'EOF'
protocol_version: 1
coverage_reply {
  directive { seq: 1 directive { id: "5201-CITY_HEALTH-20261128-0001" issuer_unit: "5201" title: "Close" scope: "5201" target_tiers: COMMUNITY } }
  region: "520102" tiers { tier: DISTRICT addressed: 2 acknowledged: 1 } tiers { tier: COMMUNITY addressed: 3 acknowledged: 3 }
  addressed: 5 acknowledged: 4 missing: "520103" missing_names: "Yunyan" missing_total: 1 connected_now: 4
  last_ack_stored { seconds: 1795856500 } }
EOF
enc events_reply.bin <<'EOF'
protocol_version: 1
events_reply {
  events { event_seq: 1 kind: PUBLISHED directive_id: "d1" version: 1 directive_seq: 1 at { seconds: 1795856400 } publisher: "p" }
  events { event_seq: 2 kind: HOLD_SET directive_id: "d1" version: 1 release_at { seconds: 1795899600 } lead_ms: 43200000 }
  events { event_seq: 3 kind: RELEASED directive_id: "d1" late_by_ms: 1500 reason: "late" } }
EOF
enc lifecycle_reply.bin <<'EOF'
protocol_version: 1
lifecycle_reply { directive_id: "d1" version: 2 seq: 5 public_record { directive_id: "d1" state: HELD release_at { seconds: 1795899600 } } }
EOF
enc error.bin <<'EOF'
protocol_version: 1
correlation_id: 3
error { code: INVALID message: "title is empty" }
EOF
enc heartbeat.bin <<'EOF'
protocol_version: 1
heartbeat { head_seq: 9 unacknowledged: 2 }
EOF
enc rating.bin <<'EOF'
protocol_version: 1
rating { seq: 1 directive_id: "5201-CITY_HEALTH-20261128-0001" version: 1 clarity: 4 feasibility: 2 comment: "masks are short" rated { seconds: 1795856500 } }
EOF
enc overdue.bin <<'EOF'
protocol_version: 1
overdue_report {
  own { seq: 1 directive_id: "5201-CITY_HEALTH-20261128-0001" version: 1 title: "Close wet markets" level: CONFIRMED deadline { seconds: 1795863600 } }
  children { seq: 1 directive_id: "5201-CITY_HEALTH-20261128-0001" version: 1 level: READY deadline { seconds: 1795899600 } units: "520102001001" unit_names: "新华社区" }
  as_of { seconds: 1795863700 } }
EOF
enc audit_request.bin <<'EOF'
protocol_version: 1
correlation_id: 21
audit_request { rollup { directive_id: "5201-CITY_HEALTH-20261128-0001" region: "5201" depth: STREET } }
EOF
enc audit_reply.bin <<'EOF'
protocol_version: 1
correlation_id: 21
audit_reply { rollup {
  directive { seq: 1 addressed_units: 3 directive { id: "5201-CITY_HEALTH-20261128-0001" version: 1 title: "Close wet markets" sent { seconds: 1795856400 } } }
  rows { code: "5201" name: "贵阳市" tier: CITY counts { addressed: 3 received: 3 confirmed: 2 ready: 1 } }
  rows { code: "520102" name: "南明区" tier: DISTRICT counts { addressed: 3 received: 3 confirmed: 2 ready: 1 } }
  deadlines { level: CONFIRMED deadline { seconds: 1795863600 } passed: true } } }
EOF
enc audit_log.bin <<'EOF'
protocol_version: 1
audit_reply { log { head_log_seq: 2 more: true
  records { log_seq: 1 at { seconds: 1795856400 } event { kind: PUBLISHED directive_id: "5201-CITY_HEALTH-20261128-0001" version: 1 } }
  records { log_seq: 2 at { seconds: 1795856401 } ack { seq: 1 unit_code: "520102001001" level: READY record { version: 1 note: "2 staff" } } } } }
EOF
enc operator.bin <<'EOF'
protocol_version: 1
operator_request { action: RATE directive_id: "5201-CITY_HEALTH-20261128-0001" clarity: 4 feasibility: 2 comment: "masks are short" }
EOF

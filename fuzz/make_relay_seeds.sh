#!/usr/bin/env bash
# Writes the seeds of fuzz_relay_messages (fuzz/corpus/fuzz_relay_messages/):
# a first byte picking the side (0: to the upstream, 1: to the relay), then
# an Envelope or a StoredDirective from protobuf text format with protoc
# --encode. Run from anywhere.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/fuzz/corpus/fuzz_relay_messages"
mkdir -p "$out"
enc() {  # enc FILE SIDE TYPE
  { printf "\\x$2"; protoc --encode="flatcast.v1.$3" -I"$root/proto" -I/usr/include \
      "$root/proto/flatcast.proto"; } >"$out/$1"
}
enc hello.bin 00 Envelope <<'EOF'
protocol_version: 1
relay_hello { region: "5201" cursor: 0 name: "relay-5201" }
EOF
enc stored.bin 00 Envelope <<'EOF'
protocol_version: 1
relay_stored { seq: 1 }
EOF
enc acks.bin 00 Envelope <<'EOF'
protocol_version: 1
correlation_id: 3
relay_acks {
  after_log_seq: 0 last_log_seq: 12
  groups { seq: 1 version: 1 level: RECEIVED units: 1 units: 1 units: 2 acked_ms: 1795852800000 acked_ms: 5 acked_ms: 0 }
  groups { seq: 1 version: 1 level: READY units: 2 acked_ms: 1795852900000 notes { key: 0 value: "two nurses" } }
  ratings { seq: 1 unit: 2 record { clarity: 4 feasibility: 3 comment: "ok" rated { seconds: 1795853000 } } }
}
EOF
enc outside.bin 00 Envelope <<'EOF'
protocol_version: 1
relay_acks { after_log_seq: 0 last_log_seq: 4 groups { seq: 1 version: 1 level: RECEIVED units: 9 acked_ms: 1795852800000 } }
EOF
enc version.bin 01 StoredDirective <<'EOF'
seq: 41 addressed_units: 3 publisher: "guizhou-health"
directive {
  format_version: 1 id: "52-HEALTH-20261128-0001" issuer_unit: "52" issuer_department: "HEALTH"
  title: "Close wet markets" body: "All wet markets close at noon."
  actions { what: "Post notices" responsible_tier: COMMUNITY }
  scope: "52" target_tiers: STREET target_tiers: COMMUNITY status: ACTUAL
  created { seconds: 1795852800 } sent { seconds: 1795856400 } version: 1 msg_type: ALERT
}
EOF
enc amendment.bin 01 StoredDirective <<'EOF'
seq: 42 publisher: "guizhou-health"
directive {
  format_version: 1 id: "52-HEALTH-20261128-0001" issuer_unit: "52" issuer_department: "HEALTH"
  title: "Close wet markets" body: "Only in Liupanshui now."
  actions { what: "Post notices" responsible_tier: COMMUNITY }
  scope: "5202" target_tiers: STREET status: ACTUAL
  sent { seconds: 1795857400 } version: 2 msg_type: UPDATE
}
EOF
# Found by the fuzzer: a target tier of 95 (refused, not indexed).
enc tier95.bin 01 StoredDirective <<'EOF'
seq: 43 publisher: "guizhou-health"
directive {
  format_version: 1 id: "52-HEALTH-20261128-0002" issuer_unit: "52" issuer_department: "HEALTH"
  title: "Close wet markets" actions { what: "Post notices" responsible_tier: COMMUNITY }
  scope: "5201" target_tiers: STREET target_tiers: 95 status: ACTUAL
  sent { seconds: 1795857400 } version: 1
}
EOF

// Who may send what. With CURVE on, every message arrives on a connection
// admitted by its key (zap_handler.h); the key's holder in the key registry
// is the sender's identity, whatever the message itself claims.
#pragma once

#include <string>
#include <string_view>

#include "flatcast.pb.h"
#include "flatcast/key_registry.h"
#include "flatcast/status.h"

namespace flatcast::broker {

// The holder of the key a connection was admitted with.
struct PeerIdentity {
  KeyRole role = KeyRole::kUnit;
  std::string subject;  // unit code, publisher name or auditor name
  std::string holder;   // the holder's name in the key registry
  std::string key_id;

  // "unit 520102016001", "publisher guizhou-health", "auditor audit-1".
  std::string Describe() const;
};

// The identity of a connection whose User-Id is `user_id` (the key in Z85):
// PermissionDenied when the key is unknown or no longer active, e.g. revoked
// since the connection was admitted.
Result<PeerIdentity> ResolvePeer(const KeyRegistry& keys, std::string_view user_id);

// Ok when a peer of `identity` may send a message with this body:
//   unit       hello, ack, rating
//   publisher  publish, lifecycle, coverage, events and audit queries
//   auditor    coverage, events and audit queries (read-only)
// PermissionDenied, saying who may, otherwise. Bodies the broker never
// accepts are let through here and refused as UNSUPPORTED by the broker.
Status CheckAccess(const PeerIdentity& identity, v1::Envelope::BodyCase body);

}  // namespace flatcast::broker

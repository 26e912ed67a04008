// Peer authorization with CURVE: every message is attributed to the holder
// of the key its connection was admitted with (access.h), refused when that
// holder may not send it, and the name it claims (the unit of a hello, the
// publisher of a request) is replaced by the authenticated one. Without
// CURVE every message is let through and speaks for whom it claims.
// Owned by the broker's event loop.
#pragma once

#include <string>
#include <unordered_map>

#include "connections.h"
#include "flatcast.pb.h"
#include "flatcast/broker/access.h"
#include "flatcast/broker/outbox.h"
#include "flatcast/key_registry.h"
#include "flatcast/status.h"

namespace flatcast::broker {

class PeerAuthorizer {
 public:
  // `keys` (replaced in place when the registry is reloaded) and
  // `connections` must outlive the object; `keys` is nullptr without CURVE.
  PeerAuthorizer(const Registry& registry, const KeyRegistry* keys, Connections& connections)
      : registry_(registry), keys_(keys), connections_(connections) {}

  bool enabled() const { return keys_ != nullptr; }

  // PermissionDenied, saying why, when `in` may not carry `env`; otherwise
  // Ok, with the claimed name in `env` set to the authenticated one.
  Status Authorize(const Inbound& in, v1::Envelope& env);

  // After the key registry changed: connections whose key is no longer
  // active are served no more (their unit is forgotten, their messages refused).
  void Recheck();
  // True when the peer's connection is known and still authorized (always
  // in open mode).
  bool Knows(const std::string& routing) const {
    return !enabled() || identities_.contains(routing);
  }

 private:
  Result<const PeerIdentity*> IdentityOf(const Inbound& in);

  struct KnownPeer {
    PeerIdentity identity;
    std::string user_id;  // the key in Z85
  };
  const Registry& registry_;
  const KeyRegistry* keys_;
  Connections& connections_;
  std::unordered_map<std::string, KnownPeer> identities_;  // by routing id
};

}  // namespace flatcast::broker

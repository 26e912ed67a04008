#include "peer_authorizer.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace flatcast::broker {

Result<const PeerIdentity*> PeerAuthorizer::IdentityOf(const Inbound& in) {
  if (auto it = identities_.find(in.routing); it != identities_.end()) return &it->second.identity;
  if (in.user_id.empty()) {
    return Status::PermissionDenied("the connection carries no authenticated key");
  }
  auto identity = ResolvePeer(*keys_, in.user_id);
  if (!identity.ok()) return identity.status();
  if (identities_.size() > 2 * registry_.size() + 1024) {
    // Connections come and go without notice on a ROUTER; keep those of
    // connected units and forget the rest.
    for (auto it = identities_.begin(); it != identities_.end();) {
      it = connections_.UnitOf(it->first) ? std::next(it) : identities_.erase(it);
    }
  }
  auto [it, inserted] =
      identities_.emplace(in.routing, KnownPeer{std::move(identity).value(), in.user_id});
  return &it->second.identity;
}

Status PeerAuthorizer::Authorize(const Inbound& in, v1::Envelope& env) {
  if (!enabled()) return Status::Ok();
  auto who = IdentityOf(in);
  if (!who.ok()) {
    connections_.ForgetRouting(in.routing);
    return who.status();
  }
  const PeerIdentity& id = **who;
  FLATCAST_RETURN_IF_ERROR(CheckAccess(id, env.body_case()));
  std::string* claimed = nullptr;
  const char* what = "";
  if (env.has_hello()) {
    claimed = env.mutable_hello()->mutable_unit_code();
    what = "say hello as unit";
  } else if (env.has_publish()) {
    claimed = env.mutable_publish()->mutable_publisher();
    what = "publish as";
  } else if (env.has_lifecycle()) {
    claimed = env.mutable_lifecycle()->mutable_publisher();
    what = "act as publisher";
  } else if (env.has_relay_hello()) {
    claimed = env.mutable_relay_hello()->mutable_region();
    what = "relay for region";
  }
  if (claimed != nullptr) {
    if (!claimed->empty() && *claimed != id.subject) {
      return Status::PermissionDenied(
          fmt::format("this connection is authenticated as {} (key {}); it cannot {} \"{}\"",
                      id.Describe(), id.key_id, what, *claimed));
    }
    *claimed = id.subject;
  }
  return Status::Ok();
}

void PeerAuthorizer::Recheck() {
  if (!enabled()) return;
  for (auto it = identities_.begin(); it != identities_.end();) {
    auto still = ResolvePeer(*keys_, it->second.user_id);
    if (still.ok()) {
      ++it;
      continue;
    }
    spdlog::warn("no longer serving {}: {}", it->second.identity.Describe(),
                 still.status().message());
    connections_.ForgetRouting(it->first);
    it = identities_.erase(it);
  }
}

}  // namespace flatcast::broker

#include "flatcast/broker/access.h"

#include <fmt/format.h>

#include "flatcast/duration.h"
#include "flatcast/wire.h"

namespace flatcast::broker {

std::string PeerIdentity::Describe() const {
  return fmt::format("{} {}", KeyRoleName(role), subject);
}

Result<PeerIdentity> ResolvePeer(const KeyRegistry& keys, std::string_view user_id) {
  const KeyRecord* record = keys.FindCurveKey(user_id);
  if (record == nullptr) {
    return Status::PermissionDenied(
        fmt::format("the key of this connection ({}) is no longer in the key registry", user_id));
  }
  if (record->revoked()) {
    return Status::PermissionDenied(fmt::format("the key {} of {} was revoked at {}",
                                                record->key_id, record->name,
                                                FormatTime(*record->revoked_at)));
  }
  return PeerIdentity{record->role, record->subject, record->name, record->key_id};
}

Status CheckAccess(const PeerIdentity& identity, v1::Envelope::BodyCase body) {
  using B = v1::Envelope::BodyCase;
  const char* who_may = nullptr;
  if (identity.role == KeyRole::kPublic && body != B::kPublicHello && body != B::kPublicStored &&
      body != B::kAttachmentGet) {
    // A public server faces the internet: it receives what is released and
    // may ask for nothing else than the documents attached to it.
    return Status::PermissionDenied(
        fmt::format("{} (key {}) may not send \"{}\": a public server may only say hello, "
                    "what it stored and ask for an attached document",
                    identity.Describe(), identity.key_id, wire::BodyName(body)));
  }
  switch (body) {
    case B::kPublicHello:
    case B::kPublicStored:
      if (identity.role == KeyRole::kPublic) return Status::Ok();
      who_may = "only a public server";
      break;
    case B::kHello:
    case B::kAck:
    case B::kRating:
    case B::kReturnAnswer:
      if (identity.role == KeyRole::kUnit) return Status::Ok();
      who_may = "only a unit's terminal";
      break;
    case B::kPublish:
    case B::kLifecycle:
    case B::kAttachmentPut:
      if (identity.role == KeyRole::kPublisher) return Status::Ok();
      who_may = identity.role == KeyRole::kAuditor ? "auditors are read-only; only a publisher"
                                                   : "only a publisher";
      break;
    case B::kRelayHello:
    case B::kRelayStored:
    case B::kRelayAcks:
      if (identity.role == KeyRole::kRelay) return Status::Ok();
      who_may = "only a relay";
      break;
    case B::kCoverageQuery:
    case B::kEventsQuery:
    case B::kAuditRequest:
      if (identity.role != KeyRole::kUnit) return Status::Ok();
      who_may = "only publishers and auditors";
      break;
    default:
      return Status::Ok();
  }
  return Status::PermissionDenied(fmt::format("{} (key {}) may not send \"{}\": {} may",
                                              identity.Describe(), identity.key_id,
                                              wire::BodyName(body), who_may));
}

}  // namespace flatcast::broker

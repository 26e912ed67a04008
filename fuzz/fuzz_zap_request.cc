// The broker's admission of a connection: a ZAP request's mechanism and
// credentials (the client's public key comes from the network) decided
// against a key registry, and the User-Id of an admitted connection resolved
// to its holder and checked against every message type. The input's first
// byte picks the mechanism and body type; the rest is the credentials.
#include <cstddef>
#include <cstdint>

#include "flatcast/broker/access.h"
#include "flatcast/clock.h"
#include "fuzz_support.h"
#include "flatcast/broker/zap_handler.h"

using namespace flatcast;

namespace {

// A registry with one active and one revoked key whose public keys are the
// inputs' most likely values (all zero bytes, all 0xff).
const KeyRegistry& Keys() {
  static const KeyRegistry keys = [] {
    KeyRegistry r;
    TimePoint t = SystemClock::Instance().Now();
    (void)r.Register("unit-52", KeyRole::kUnit, "52", std::string(kKeyBytes, '\0'), std::nullopt, t);
    (void)r.Register("gone", KeyRole::kAuditor, "gone", std::string(kKeyBytes, '\xff'),
                     std::nullopt, t);
    (void)r.Revoke("gone", std::nullopt, t);
    return r;
  }();
  return keys;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* kMechanisms[] = {"CURVE", "NULL", "PLAIN", ""};
  std::string_view credentials = fuzz::AsView(data + 1, size - 1);
  broker::ZapDecision d = broker::DecideZap(Keys(), kMechanisms[data[0] & 3], credentials);
  if (d.status_code != "200" && d.status_code != "400") __builtin_trap();
  if (d.status_code == "400" && !d.user_id.empty()) __builtin_trap();
  // The User-Id of an admitted connection, or any text as one.
  std::string user_id = d.status_code == "200" ? d.user_id : std::string(credentials);
  Result<broker::PeerIdentity> who = broker::ResolvePeer(Keys(), user_id);
  if (d.status_code == "200" && !who.ok()) __builtin_trap();
  if (who.ok()) {
    auto body = static_cast<v1::Envelope::BodyCase>(data[0] >> 2);
    (void)broker::CheckAccess(*who, body);
  }
  return 0;
}

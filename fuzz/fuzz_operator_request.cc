// The terminal daemon's operator requests (confirm, ready, rate, return, status) as
// they arrive on its control socket: decoded, then answered by a session
// that has one directive stored.
#include <cstddef>
#include <cstdint>

#include "flatcast/clock.h"
#include "flatcast/duration.h"
#include "flatcast/subscriber/inbox.h"
#include "flatcast/subscriber/operator_control.h"
#include "flatcast/subscriber/terminal_session.h"
#include "fuzz_support.h"

using namespace flatcast;

namespace {

v1::StoredDirective Stored() {
  v1::StoredDirective stored;
  stored.set_seq(3);
  stored.set_addressed_units(1);
  v1::Directive* d = stored.mutable_directive();
  d->set_id("52-HEALTH-20261128-0001");
  d->set_version(1);
  d->set_issuer_unit("52");
  d->set_issuer_department("HEALTH");
  d->set_title("Close wet markets");
  d->add_scope("5201");
  d->add_target_tiers(v1::COMMUNITY);
  d->set_status(v1::ACTUAL);
  *d->mutable_sent() = ToTimestamp(ParseTime("2026-11-28T09:30:00Z").value());
  // A return form, so RETURN requests reach the checks of their fields.
  v1::FormField* masks = d->mutable_return_form()->add_fields();
  masks->set_key("masks");
  masks->set_label("口罩库存");
  masks->set_kind(v1::FormField::QUANTITY);
  masks->set_required(true);
  masks->set_max(100000);
  v1::FormField* risk = d->mutable_return_form()->add_fields();
  risk->set_key("risk");
  risk->set_label("风险");
  risk->set_kind(v1::FormField::CHOICE);
  risk->add_choices("低");
  risk->add_choices("高");
  return stored;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  v1::OperatorRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  static FakeClock clock(ParseTime("2026-11-28T10:00:00Z").value());
  subscriber::MemoryInbox inbox;
  if (!inbox.Put(Stored()).ok()) __builtin_trap();
  subscriber::TerminalSession session("520102001001", Tier::kCommunity, inbox, clock);
  std::vector<std::string> out;
  (void)session.Hello();
  Result<v1::OperatorReply> reply = subscriber::AnswerOperator(request, session, inbox, out);
  if (reply.ok() && reply->message().empty()) __builtin_trap();
  return 0;
}

#include "samples.h"

#include "flatcast/duration.h"

namespace flatcast::testing {

const char kTestRegistryText[] =
    "52\tprovince\t贵州省\n"
    "5201\tcity\t贵阳市\n"
    "520102\tdistrict\t南明区\n"
    "520102001\tstreet\t新华路街道\n"
    "520102001001\tcommunity\t新华社区\n"
    "520102001002\tcommunity\t西湖社区\n"
    "520102002\tstreet\t遵义路街道\n"
    "520102002001\tcommunity\t省府社区\n"
    "520103\tdistrict\t云岩区\n"
    "5202\tcity\t六盘水市\n"
    "520201\tdistrict\t钟山区\n"
    "520201001\tstreet\t黄土坡街道\n";

const char kTestPublishers[] = R"(
[[publisher]]
name = "province"
unit = "52"
department = "HEALTH"
rights = ["emergency"]

[[publisher]]
name = "province-duty"
unit = "52"
department = "HEALTH"

[[publisher]]
name = "city"
unit = "5201"
department = "CITY_HEALTH"
)";

Registry TestRegistry() { return Registry::Parse(kTestRegistryText, "test").value(); }

TimePoint SampleTime() { return ParseTime("2026-11-28T09:30:00Z").value(); }

v1::Envelope SamplePublish(const std::vector<std::string>& scope, const std::vector<v1::Tier>& tiers,
                           const std::string& idempotency_key) {
  v1::Envelope env;
  auto* req = env.mutable_publish();
  req->set_idempotency_key(idempotency_key);
  auto* d = req->mutable_directive();
  d->set_issuer_unit("52");
  d->set_issuer_department("HEALTH");
  d->set_title("Close markets");
  d->set_body("All wet markets close at noon.");
  d->set_status(v1::ACTUAL);
  auto* a = d->add_actions();
  a->set_what("Post notices");
  a->set_responsible_tier(v1::COMMUNITY);
  for (const auto& s : scope) d->add_scope(s);
  for (auto t : tiers) d->add_target_tiers(t);
  return env;
}

v1::StoredDirective SampleStored(uint64_t seq, const std::string& id, uint32_t version,
                                 std::vector<std::string> scope, std::vector<v1::Tier> tiers) {
  v1::StoredDirective stored;
  stored.set_seq(seq);
  stored.set_addressed_units(1);
  v1::Directive* d = stored.mutable_directive();
  d->set_format_version(1);
  d->set_id(id);
  d->set_version(version);
  d->set_issuer_unit("52");
  d->set_issuer_department("HEALTH");
  d->set_title("Close wet markets");
  d->set_body("All wet markets close at noon.");
  v1::ActionItem* action = d->add_actions();
  action->set_what("Post notices at every market");
  action->set_responsible_tier(v1::COMMUNITY);
  for (const auto& s : scope) d->add_scope(s);
  for (auto t : tiers) d->add_target_tiers(t);
  d->set_status(v1::ACTUAL);
  *d->mutable_sent() = ToTimestamp(SampleTime());
  return stored;
}

v1::Envelope HelloFrom(const std::string& unit) {
  v1::Envelope env;
  env.mutable_hello()->set_unit_code(unit);
  return env;
}

v1::Envelope AckOf(const v1::PublishReceipt& receipt, v1::AckLevel level, const std::string& note) {
  v1::Envelope ack;
  ack.mutable_ack()->set_seq(receipt.seq());
  ack.mutable_ack()->set_directive_id(receipt.id());
  ack.mutable_ack()->set_version(1);
  ack.mutable_ack()->set_level(level);
  ack.mutable_ack()->set_note(note);
  return ack;
}

v1::Envelope RatingOf(const v1::PublishReceipt& receipt, uint32_t clarity, uint32_t feasibility,
                      int64_t rated_seconds) {
  v1::Envelope env;
  auto* r = env.mutable_rating();
  r->set_seq(receipt.seq());
  r->set_directive_id(receipt.id());
  r->set_version(1);
  r->set_clarity(clarity);
  r->set_feasibility(feasibility);
  r->set_comment("not enough masks");
  r->mutable_rated()->set_seconds(rated_seconds);
  return env;
}

v1::Envelope AuditOf(v1::AuditRequest request) {
  v1::Envelope env;
  *env.mutable_audit_request() = std::move(request);
  return env;
}

v1::Envelope CoverageOf(const std::string& directive_id, uint32_t max_missing) {
  v1::Envelope env;
  env.mutable_coverage_query()->set_directive_id(directive_id);
  env.mutable_coverage_query()->set_max_missing(max_missing);
  return env;
}

}  // namespace flatcast::testing

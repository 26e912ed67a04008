// The queries the broker answers from its store (coverage, events and every
// audit request) as a peer may send them, against a RocksDB store in
// /dev/shm holding one directive with acknowledgements, a rating and events.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "flatcast/broker/audit_queries.h"
#include "flatcast/broker/query_port.h"
#include "flatcast/broker/store.h"
#include "flatcast/directive.h"
#include "flatcast/duration.h"
#include "flatcast/wire.h"
#include "fuzz_support.h"

#include <spdlog/spdlog.h>

using namespace flatcast;

namespace {

const TimePoint kSent = ParseTime("2026-11-28T09:30:00Z").value();

broker::Store& TheStore() {
  static std::unique_ptr<broker::Store> store = [] {
    std::string dir = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
    dir += "/flatcast-fuzz-store-XXXXXX";
    if (::mkdtemp(dir.data()) == nullptr) std::abort();
    auto opened = broker::Store::Open({dir + "/data", true, 16});
    if (!opened.ok()) std::abort();
    std::unique_ptr<broker::Store> s = std::move(opened).value();
    broker::StoreWrite w;
    v1::StoredDirective& d = w.directive.emplace();
    d.set_seq(1);
    v1::Directive* dir_msg = d.mutable_directive();
    dir_msg->set_id("52-HEALTH-20261128-0001");
    dir_msg->set_version(1);
    dir_msg->set_title("Close wet markets");
    dir_msg->set_issuer_unit("52");
    dir_msg->set_issuer_department("HEALTH");
    dir_msg->add_scope("5201");
    dir_msg->add_target_tiers(v1::STREET);
    dir_msg->add_target_tiers(v1::COMMUNITY);
    dir_msg->add_actions()->set_responsible_tier(v1::COMMUNITY);
    auto* deadline = dir_msg->add_deadlines();
    deadline->set_level(v1::CONFIRMED);
    deadline->set_within_ms(3600 * 1000);
    *dir_msg->mutable_sent() = ToTimestamp(kSent);
    d.set_addressed_units(static_cast<uint32_t>(AddressedUnits(*dir_msg, fuzz::SmallRegistry()).size()));
    v1::LifecycleEvent& e = w.events.emplace_back();
    e.set_kind(v1::LifecycleEvent::PUBLISHED);
    e.set_directive_id(dir_msg->id());
    e.set_directive_seq(1);
    *e.mutable_at() = ToTimestamp(kSent);
    for (const char* unit : {"520102001", "520102001001", "520103001001"}) {
      broker::AckEntry& a = w.acks.emplace_back();
      a = {1, unit, v1::RECEIVED, {}};
      *a.record.mutable_stored() = ToTimestamp(kSent + std::chrono::seconds(1));
    }
    broker::RatingEntry& r = w.ratings.emplace_back();
    r = {1, "520102001001", {}};
    r.record.set_clarity(4);
    r.record.set_feasibility(2);
    r.record.set_comment("not enough masks");
    *r.record.mutable_rated() = ToTimestamp(kSent + std::chrono::minutes(5));
    *r.record.mutable_stored() = r.record.rated();
    if (!s->Write(std::move(w)).ok()) std::abort();
    return s;
  }();
  return *store;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);  // a refused query is logged; not a million times
    return true;
  }();
  (void)quiet;
  static FakeClock clock(kSent + std::chrono::hours(2));
  static broker::AuditQueries queries(TheStore(), fuzz::SmallRegistry(), clock);
  v1::Envelope request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  if (!request.has_audit_request() && !request.has_coverage_query() && !request.has_events_query()) {
    return 0;
  }
  broker::QueryJob job{"peer", request, 1};
  broker::Payload answer = broker::AnswerQuery(queries, job);
  Result<v1::Envelope> decoded = wire::Decode(*answer, answer->size());
  if (!decoded.ok()) __builtin_trap();  // every answer is an envelope a peer can read
  return 0;
}

// flatcast-bench-audit: the auditors' queries on a large registry.
//
//   flatcast-bench-audit populate --registry R --data-dir D [--directives 10]
//       writes D: the directives, each addressed to every unit below the
//       provinces and carrying a return form (three quantities, yes/no, a
//       choice), every unit's RECEIVED, CONFIRMED and READY acknowledgement
//       of each and, for the first directive, every unit's answer to its
//       form, through the broker's own Store (so the log is written and
//       chained as the broker writes it).
//   flatcast-bench-audit query --broker EP [--directive ID] [--district CODE]
//       [--rounds 5] [--json FILE]
//       times the queries through the broker's query endpoint (RpcClient, as
//       flatcast-audit asks them): rollup of one directive down to the
//       streets, missing units of one district, the return form's answers
//       summed for one province by district and for the whole registry by
//       city, and others for context.
//
// The registry holds more units than one broker could keep connections for
// here (20,000 descriptors): populate bypasses the terminals, and the broker
// runs with --max-terminals. This is a benchmark tool, not a test.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "flatcast/broker/store.h"
#include "flatcast/directive.h"
#include "flatcast/duration.h"
#include "flatcast/registry.h"
#include "flatcast/rpc_client.h"

namespace flatcast {
namespace {

using Steady = std::chrono::steady_clock;

double Seconds(Steady::duration d) { return std::chrono::duration<double>(d).count(); }

Status Populate(const std::string& registry_path, const std::string& data_dir, int directives) {
  auto start = Steady::now();
  Result<Registry> registry = Registry::Load(registry_path);
  if (!registry.ok()) return registry.status();
  Result<std::unique_ptr<broker::Store>> store = broker::Store::Open({data_dir, true, 64, false});
  if (!store.ok()) return store.status();
  if ((*store)->head_seq() != 0) return Status::AlreadyExists(data_dir + " holds directives already");
  std::vector<std::string> provinces;
  for (const Unit& u : registry->units()) {
    if (u.tier == Tier::kProvince) provinces.push_back(u.code);
  }
  std::mt19937_64 random(42);
  const TimePoint sent0 = std::chrono::time_point_cast<TimePoint::duration>(
      std::chrono::system_clock::now() - std::chrono::hours(24 * directives));
  uint64_t acks = 0, returns = 0;
  for (int k = 1; k <= directives; ++k) {
    v1::StoredDirective s;
    s.set_seq(static_cast<uint64_t>(k));
    v1::Directive* d = s.mutable_directive();
    TimePoint sent = sent0 + std::chrono::hours(24 * (k - 1));
    d->set_id(MakeDirectiveId(provinces.front(), "BENCH", sent, 1));
    d->set_version(1);
    d->set_format_version(kDirectiveFormatVersion);
    d->set_issuer_unit(provinces.front());
    d->set_issuer_department("BENCH");
    d->set_title(fmt::format("benchmark directive {}", k));
    d->set_body(std::string(4096, 'x'));
    d->set_status(v1::EXERCISE);
    for (const std::string& p : provinces) d->add_scope(p);
    for (v1::Tier t : {v1::CITY, v1::DISTRICT, v1::STREET, v1::COMMUNITY}) d->add_target_tiers(t);
    auto* action = d->add_actions();
    action->set_what("prepare");
    action->set_responsible_tier(v1::COMMUNITY);
    v1::ReturnForm* form = d->mutable_return_form();
    for (auto [key, below] : {std::pair{"masks", 500}, std::pair{"disinfectant", 20},
                              std::pair{"staff_on_duty", 0}}) {
      v1::FormField* f = form->add_fields();
      f->set_key(key);
      f->set_label(key);
      f->set_kind(v1::FormField::QUANTITY);
      f->set_required(true);
      f->set_max(1000000);
      if (below > 0) f->set_below(below);
    }
    v1::FormField* open = form->add_fields();
    open->set_key("thermometers_ok");
    open->set_label("thermometers_ok");
    open->set_kind(v1::FormField::YES_NO);
    v1::FormField* risk = form->add_fields();
    risk->set_key("risk");
    risk->set_label("risk");
    risk->set_kind(v1::FormField::CHOICE);
    for (const char* c : {"low", "medium", "high"}) risk->add_choices(c);
    *d->mutable_sent() = ToTimestamp(sent);
    *d->mutable_created() = d->sent();
    std::vector<uint32_t> units = AddressedUnits(*d, *registry);
    s.set_addressed_units(static_cast<uint32_t>(units.size()));
    v1::LifecycleEvent e;
    e.set_kind(v1::LifecycleEvent::PUBLISHED);
    e.set_directive_id(d->id());
    e.set_directive_seq(s.seq());
    e.set_version(1);
    *e.mutable_at() = d->sent();
    broker::StoreWrite w;
    w.directive = s;
    w.events.push_back(e);
    FLATCAST_RETURN_IF_ERROR((*store)->Write(std::move(w)));

    // Every unit: RECEIVED within a second, CONFIRMED within two hours,
    // READY within twelve; written in group commits of 30,000.
    std::vector<broker::AckEntry> batch;
    std::uniform_int_distribution<int64_t> received_ms(50, 900), confirmed_ms(60'000, 7'200'000),
        ready_ms(7'200'000, 43'200'000);
    auto flush = [&]() -> Status {
      if (batch.empty()) return Status::Ok();
      acks += batch.size();
      FLATCAST_RETURN_IF_ERROR((*store)->PutAcks(std::exchange(batch, {})));
      return Status::Ok();
    };
    for (uint32_t i : units) {
      for (auto [level, ms] : {std::pair{v1::RECEIVED, received_ms(random)},
                               std::pair{v1::CONFIRMED, confirmed_ms(random)},
                               std::pair{v1::READY, ready_ms(random)}}) {
        broker::AckEntry a{s.seq(), registry->unit(i).code, level, {}};
        TimePoint at = sent + std::chrono::milliseconds(ms);
        *a.record.mutable_acked() = ToTimestamp(at);
        *a.record.mutable_stored() = ToTimestamp(at);
        a.record.set_version(1);
        batch.push_back(std::move(a));
      }
      if (batch.size() >= 30000) FLATCAST_RETURN_IF_ERROR(flush());
    }
    FLATCAST_RETURN_IF_ERROR(flush());
    if (k == 1) {
      // Every unit answers the first directive's form, within a day; in
      // commits of 30,000 as the broker's group commits would take them.
      std::uniform_int_distribution<int64_t> answered_ms(600'000, 86'400'000), masks(0, 5000),
          disinfectant(0, 200), staff(0, 30), choice(0, 2);
      broker::StoreWrite answers;
      auto flush_answers = [&]() -> Status {
        if (answers.returns.empty()) return Status::Ok();
        returns += answers.returns.size();
        return (*store)->Write(std::exchange(answers, {}));
      };
      for (uint32_t i : units) {
        broker::ReturnEntry r{s.seq(), registry->unit(i).code, {}};
        for (auto [key, n] : {std::pair{"masks", masks(random)},
                              std::pair{"disinfectant", disinfectant(random)},
                              std::pair{"staff_on_duty", staff(random)}}) {
          v1::FieldValue* v = r.record.add_values();
          v->set_key(key);
          v->set_quantity(n);
        }
        v1::FieldValue* yes = r.record.add_values();
        yes->set_key("thermometers_ok");
        yes->set_yes(choice(random) != 0);
        v1::FieldValue* c = r.record.add_values();
        c->set_key("risk");
        c->set_choice(std::array{"low", "medium", "high"}[choice(random)]);
        TimePoint at = sent + std::chrono::milliseconds(answered_ms(random));
        *r.record.mutable_answered() = ToTimestamp(at);
        *r.record.mutable_stored() = ToTimestamp(at);
        r.record.set_version(1);
        r.record.set_revision(1);
        answers.returns.push_back(std::move(r));
        if (answers.returns.size() >= 30000) FLATCAST_RETURN_IF_ERROR(flush_answers());
      }
      FLATCAST_RETURN_IF_ERROR(flush_answers());
    }
    std::cerr << fmt::format("directive {} of {}: {} units, {} acknowledgements and {} answers so "
                             "far ({:.0f} s)\n",
                             k, directives, units.size(), acks, returns,
                             Seconds(Steady::now() - start));
  }
  std::cout << nlohmann::json{{"units", registry->size()},
                              {"directives", directives},
                              {"acks", acks},
                              {"answers", returns},
                              {"populate_s", Seconds(Steady::now() - start)}}
                   .dump()
            << "\n";
  return Status::Ok();
}

struct Timing {
  std::string name;
  std::vector<double> ms;
  size_t reply_bytes = 0;
  std::string note;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

Status Query(const std::string& endpoint, std::string directive_id, std::string district,
             const std::string& returns_region, int rounds, const std::string& json_path) {
  zmq::context_t ctx(1);
  RpcClient client(ctx, endpoint);
  auto ask = [&](const v1::AuditRequest& request) -> Result<v1::Envelope> {
    v1::Envelope env;
    *env.mutable_audit_request() = request;
    return client.Call(env, std::chrono::minutes(5));
  };
  if (directive_id.empty()) {
    v1::Envelope events;
    events.mutable_events_query();
    Result<v1::Envelope> reply = client.Call(events, std::chrono::minutes(1));
    if (!reply.ok()) return reply.status();
    if (reply->events_reply().events().empty()) return Status::NotFound("the broker has no directives");
    directive_id = reply->events_reply().events(0).directive_id();
  }
  std::vector<Timing> timings;
  auto time = [&](const std::string& name, const v1::AuditRequest& request,
                  const std::function<std::string(const v1::AuditReply&)>& describe) -> Status {
    Timing t{name, {}, 0, ""};
    for (int i = 0; i < rounds; ++i) {
      auto start = Steady::now();
      Result<v1::Envelope> reply = ask(request);
      double ms = 1000.0 * Seconds(Steady::now() - start);
      if (!reply.ok()) return reply.status().WithContext(name);
      t.ms.push_back(ms);
      t.reply_bytes = reply->ByteSizeLong();
      t.note = describe(reply->audit_reply());
    }
    timings.push_back(std::move(t));
    return Status::Ok();
  };
  v1::AuditRequest rollup;
  rollup.mutable_rollup()->set_directive_id(directive_id);
  rollup.mutable_rollup()->set_depth(v1::STREET);
  FLATCAST_RETURN_IF_ERROR(time("rollup to streets, whole registry", rollup, [](const v1::AuditReply& r) {
    const auto& rows = r.rollup().rows();
    uint64_t addressed = 0, ready = 0;
    for (const auto& row : rows) {
      if (row.tier() == v1::PROVINCE) {
        addressed += row.counts().addressed();
        ready += row.counts().ready();
      }
    }
    return fmt::format("{} rows, {} addressed, {} ready", rows.size(), addressed, ready);
  }));
  v1::AuditRequest district_rollup = rollup;
  if (!district.empty()) {
    for (v1::AckLevel level : {v1::RECEIVED, v1::READY}) {
      v1::AuditRequest missing;
      missing.mutable_missing()->set_directive_id(directive_id);
      missing.mutable_missing()->set_region(district);
      missing.mutable_missing()->set_level(level);
      FLATCAST_RETURN_IF_ERROR(time(fmt::format("missing {} of district {}", v1::AckLevel_Name(level), district),
                                    missing, [](const v1::AuditReply& r) {
                                      return fmt::format("{} missing", r.missing().total());
                                    }));
    }
  }
  v1::AuditRequest latency;
  latency.mutable_latency()->set_directive_id(directive_id);
  FLATCAST_RETURN_IF_ERROR(time("latency per level, whole registry", latency, [](const v1::AuditReply& r) {
    return fmt::format("RECEIVED p99 {} ms", r.latency().levels(0).p99_ms());
  }));
  // The return form's answers: one province by district (the issue's
  // figure is for a province of about 19,571 answers), and the whole
  // registry by city.
  auto describe_returns = [](const v1::AuditReply& r) {
    const v1::ReturnsRow& total = r.returns().total();
    return fmt::format("{} rows, {} of {} answered, masks sum {}, {} below 500",
                       r.returns().rows_size(), total.answered(), total.addressed(),
                       total.fields_size() > 0 ? total.fields(0).sum() : 0,
                       total.fields_size() > 0 ? total.fields(0).below_count() : 0);
  };
  v1::AuditRequest province_returns;
  province_returns.mutable_returns()->set_directive_id(directive_id);
  province_returns.mutable_returns()->set_region(returns_region);
  province_returns.mutable_returns()->set_by(v1::DISTRICT);
  FLATCAST_RETURN_IF_ERROR(time(fmt::format("returns of {} by district", returns_region),
                                province_returns, describe_returns));
  v1::AuditRequest all_returns;
  all_returns.mutable_returns()->set_directive_id(directive_id);
  all_returns.mutable_returns()->set_by(v1::CITY);
  FLATCAST_RETURN_IF_ERROR(time("returns by city, whole registry", all_returns, describe_returns));
  v1::AuditRequest readiness;
  readiness.mutable_readiness()->set_directive_id(directive_id);
  FLATCAST_RETURN_IF_ERROR(time("readiness, whole registry", readiness, [](const v1::AuditReply& r) {
    return fmt::format("{} ready", r.readiness().total().ready());
  }));

  nlohmann::json out = nlohmann::json::array();
  std::cout << fmt::format("{:<42} {:>10} {:>10} {:>10} {:>11}  {}\n", "query", "median ms",
                           "min ms", "max ms", "reply bytes", "result");
  for (const Timing& t : timings) {
    double median = Median(t.ms);
    double min = *std::min_element(t.ms.begin(), t.ms.end());
    double max = *std::max_element(t.ms.begin(), t.ms.end());
    std::cout << fmt::format("{:<42} {:>10.1f} {:>10.1f} {:>10.1f} {:>11}  {}\n", t.name, median,
                             min, max, t.reply_bytes, t.note);
    out.push_back({{"query", t.name},
                   {"rounds_ms", t.ms},
                   {"median_ms", median},
                   {"min_ms", min},
                   {"max_ms", max},
                   {"reply_bytes", t.reply_bytes},
                   {"result", t.note}});
  }
  if (!json_path.empty()) {
    std::ofstream f(json_path);
    f << nlohmann::json{{"directive", directive_id}, {"district", district}, {"rounds", rounds},
                        {"queries", out}}
             .dump(2)
      << "\n";
  }
  return Status::Ok();
}

int Main(int argc, char** argv) {
  CLI::App app{"flatcast-bench-audit: the auditors' queries on a large registry"};
  app.require_subcommand(1);
  std::string registry, data_dir, endpoint, directive, district, json_path, returns_region = "52";
  int directives = 10, rounds = 5;
  auto* populate = app.add_subcommand("populate", "write a store of fully acknowledged directives");
  populate->add_option("--registry", registry, "registry file")->required()->check(CLI::ExistingFile);
  populate->add_option("--data-dir", data_dir, "the store to create")->required();
  populate->add_option("--directives", directives, "how many")->capture_default_str();
  auto* query = app.add_subcommand("query", "time the queries through a running broker");
  query->add_option("--broker", endpoint, "broker endpoint")->required();
  query->add_option("--directive", directive, "directive id (default: the first)");
  query->add_option("--district", district, "district for the missing-units query");
  query->add_option("--returns-region", returns_region,
                    "province whose answers are summed by district")
      ->capture_default_str();
  query->add_option("--rounds", rounds, "repetitions of each query")->capture_default_str();
  query->add_option("--json", json_path, "write the timings here");
  CLI11_PARSE(app, argc, argv);
  Status st = *populate ? Populate(registry, data_dir, directives)
                        : Query(endpoint, directive, district, returns_region, rounds, json_path);
  if (!st.ok()) {
    std::cerr << "flatcast-bench-audit: " << st.message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace flatcast

int main(int argc, char** argv) { return flatcast::Main(argc, argv); }

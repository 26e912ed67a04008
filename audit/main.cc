// flatcast-audit: who received, confirmed and is ready, who is late, and how
// the communities judge the directives, asked of the broker's read-only
// query endpoint (or, for `verify --data-dir`, of a store on disk).
#include <CLI/CLI.hpp>

#include <charconv>
#include <iostream>

#include "flatcast/audit/client.h"
#include "flatcast/audit/reports.h"
#include "flatcast/duration.h"
#include "flatcast/queries.h"
#include "flatcast/registry.h"
#include "flatcast/report.h"

namespace {

namespace v1 = flatcast::v1;
using flatcast::OutputFormat;
using flatcast::Status;

int Fail(const Status& st) {
  std::cerr << "flatcast-audit: " << st.message() << "\n";
  return st.code() == Status::Code::kUnavailable ? 3 : 2;
}

OutputFormat FormatOf(const std::string& f) {
  return f == "json" ? OutputFormat::kJson : f == "csv" ? OutputFormat::kCsv : OutputFormat::kTable;
}

v1::AckLevel LevelOf(const std::string& l) {
  return l == "ready" ? v1::READY : l == "confirmed" ? v1::CONFIRMED : v1::RECEIVED;
}

// --since/--until into a timestamp; empty leaves it unset.
Status SetTime(const std::string& text, google::protobuf::Timestamp* out, bool& has) {
  has = false;
  if (text.empty()) return Status::Ok();
  auto t = flatcast::ParseTime(text);
  if (!t.ok()) return t.status();
  *out = flatcast::ToTimestamp(*t);
  has = true;
  return Status::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flatcast audit: acknowledgement coverage, deadlines, ratings and the log"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the subcommand
  std::string broker = "tcp://127.0.0.1:7700";
  int timeout_ms = 30000;
  std::string format = "table";
  app.add_option("-b,--broker", broker, "broker endpoint; a pair's two, comma-separated")->capture_default_str();
  app.add_option("--timeout-ms", timeout_ms, "wait this long for each answer")->capture_default_str();
  app.add_option("--format", format, "table, json or csv")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->capture_default_str();
  std::string curve_key_file, broker_key_file;
  app.add_option("--curve-key", curve_key_file,
                 "this auditor's secret CURVE key file, for a broker with CURVE (with --broker-key)")
      ->check(CLI::ExistingFile);
  app.add_option("--broker-key", broker_key_file, "the broker's public CURVE key file")
      ->check(CLI::ExistingFile);

  std::string id, region, level = "received", unit, since, until, by, anchor, data_dir,
                          depth = "district";
  uint32_t missing_limit = 50, limit = 1000, comments = 3, page = 50000;
  bool all = false;
  auto* coverage = app.add_subcommand(
      "coverage", "addressed and received units per tier, and the units missing (live view)");
  coverage->add_option("id", id, "directive id")->required();
  coverage->add_option("--region", region, "only units at or below this region code");
  coverage->add_option("--missing-limit", missing_limit, "list at most this many missing units")
      ->capture_default_str();
  auto* rollup = app.add_subcommand(
      "rollup", "coverage as a tree, province to street, with every level's counts and percentages");
  rollup->add_option("id", id, "directive id")->required();
  rollup->add_option("--region", region, "the tree's root (default: everything addressed)");
  rollup->add_option("--depth", depth, "lowest tier listed")
      ->check(CLI::IsMember({"province", "city", "district", "street", "community"}))
      ->capture_default_str();
  auto* missing = app.add_subcommand("missing", "units without an acknowledgement level");
  missing->add_option("id", id, "directive id")->required();
  missing->add_option("--level", level, "received, confirmed or ready")
      ->check(CLI::IsMember({"received", "confirmed", "ready"}))
      ->capture_default_str();
  missing->add_option("--region", region, "only units at or below this region code");
  missing->add_option("--limit", limit, "list this many (one page)")->capture_default_str();
  missing->add_flag("--all", all, "list every missing unit, page by page (progress on stderr)");
  missing->add_option("--page", page, "--all: units per request")->check(CLI::Range(1, 50000));
  auto* latency = app.add_subcommand("latency", "time from sending to each level: p50/p90/p99/max");
  latency->add_option("id", id, "directive id")->required();
  latency->add_option("--region", region, "only units at or below this region code");
  auto* history = app.add_subcommand("unit", "one unit's history: every directive, each level, its rating");
  history->add_option("code", unit, "unit code")->required();
  auto* log = app.add_subcommand(
      "log", "the log (acknowledgements, ratings, lifecycle events) in a time range");
  log->add_option("--since", since, "from this time (RFC 3339)");
  log->add_option("--until", until, "before this time (RFC 3339)");
  log->add_option("--directive", id, "only this directive's records");
  log->add_option("--region", region, "only acknowledgements and ratings of units below it");
  log->add_option("--limit", limit, "records per page")->capture_default_str();
  log->add_flag("--all", all, "every page (progress on stderr)");
  log->add_option("--page", page, "--all: records per request")->check(CLI::Range(1, 50000));
  auto* readiness = app.add_subcommand("readiness", "who was ready when the directive became public");
  readiness->add_option("id", id, "directive id")->required();
  readiness->add_option("--region", region, "only units at or below this region code");
  auto* ratings = app.add_subcommand("ratings", "the communities' ratings by department or directive");
  by = "department";
  ratings->add_option("--by", by, "department or directive")
      ->check(CLI::IsMember({"department", "directive"}))
      ->capture_default_str();
  ratings->add_option("--since", since, "rated from this time (RFC 3339)");
  ratings->add_option("--until", until, "rated before this time (RFC 3339)");
  ratings->add_option("--comments", comments, "--by directive: comments listed per directive")
      ->capture_default_str();
  auto* burden = app.add_subcommand(
      "burden", "directives and action items each unit received, per week and department");
  std::string burden_by = "unit";
  burden->add_option("--region", region, "only units at or below this region code");
  burden->add_option("--since", since, "received from this time (RFC 3339)");
  burden->add_option("--until", until, "received before this time (RFC 3339)");
  burden->add_option("--by", burden_by, "unit or tier (totals and per-unit means)")
      ->check(CLI::IsMember({"unit", "tier"}))
      ->capture_default_str();
  auto* returns = app.add_subcommand(
      "returns", "the answers to a directive's return form, summed by region");
  uint32_t form_version = 0, list_units = 0;
  std::string returns_by;
  std::vector<std::string> below;
  returns->add_option("id", id, "directive id")->required();
  returns->add_option("--version", form_version, "this version's form (default: the latest)");
  returns->add_option("--region", region, "only units at or below this region code");
  returns->add_option("--by", returns_by, "one row per region of this tier (default: one row)")
      ->check(CLI::IsMember({"city", "district", "street"}));
  returns->add_option("--list", list_units,
                      "list up to this many units per row that have not answered or are below a "
                      "threshold");
  returns->add_option("--below", below,
                      "KEY=N: count the units answering a quantity below N (replaces the form's; "
                      "repeatable)");
  auto* verify = app.add_subcommand(
      "verify", "walk the log's hash chain and check the store against it; exit 1 if tampered");
  verify->add_option("--anchor", anchor, "SEQ:HASH noted from an earlier verify");
  verify->add_option("--data-dir", data_dir,
                     "check this store on disk (read-only) instead of asking the broker");
  auto* cluster = app.add_subcommand(
      "cluster", "a broker pair: each broker's role, epoch, in-sync state and replication lag "
                 "(asks every endpoint of --broker)");
  auto* events = app.add_subcommand("events", "lifecycle events (publish, hold, release, ...)");
  events->add_option("id", id, "directive id (default: all directives)");
  CLI11_PARSE(app, argc, argv);

  const OutputFormat out_format = FormatOf(format);
  const auto timeout = std::chrono::milliseconds(timeout_ms);
  v1::VerifyQuery verify_query;
  if (*verify && !anchor.empty()) {
    if (auto st = flatcast::audit::ParseAnchor(anchor, verify_query); !st.ok()) return Fail(st);
  }
  if (*verify && !data_dir.empty()) {
    auto reply = flatcast::audit::VerifyStore(data_dir, verify_query);
    if (!reply.ok()) return Fail(reply.status());
    std::cout << flatcast::audit::RenderVerify(*reply, out_format);
    return reply->ok() ? 0 : 1;
  }

  auto curve = flatcast::LoadCurveClientKeys(curve_key_file, broker_key_file);
  if (!curve.ok()) return Fail(curve.status());
  zmq::context_t ctx(1);
  if (*cluster) {
    std::vector<flatcast::audit::ClusterMember> members;
    for (const std::string& endpoint : flatcast::SplitEndpoints(broker)) {
      flatcast::RpcClient one(ctx, endpoint, *curve);
      members.push_back({endpoint, flatcast::audit::AskCluster(one, timeout)});
    }
    std::cout << flatcast::audit::RenderCluster(members, out_format);
    for (const auto& m : members) {
      if (!m.state.ok()) return 3;  // a broker did not answer
    }
    return 0;
  }
  flatcast::RpcClient client(ctx, broker, *curve);

  if (*events) {
    auto reply = flatcast::QueryEvents(client, id, timeout);
    if (!reply.ok()) return Fail(reply.status());
    std::cout << flatcast::RenderEvents(*reply, out_format);
    return 0;
  }
  if (*coverage) {
    auto reply = flatcast::QueryCoverage(client, id, region, missing_limit, timeout);
    if (!reply.ok()) return Fail(reply.status());
    std::cout << flatcast::RenderCoverage(*reply, out_format);
    return 0;
  }
  if (*missing) {
    v1::MissingQuery q;
    q.set_directive_id(id);
    q.set_region(region);
    q.set_level(LevelOf(level));
    auto reply = flatcast::audit::FetchMissing(client, q, all ? page : limit, all, timeout, &std::cerr);
    if (!reply.ok()) return Fail(reply.status());
    std::cout << flatcast::audit::RenderMissing(*reply, out_format);
    return 0;
  }
  if (*log) {
    v1::LogQuery q;
    bool has = false;
    if (auto st = SetTime(since, q.mutable_since(), has); !st.ok()) return Fail(st);
    if (!has) q.clear_since();
    if (auto st = SetTime(until, q.mutable_until(), has); !st.ok()) return Fail(st);
    if (!has) q.clear_until();
    q.set_directive_id(id);
    q.set_region(region);
    q.set_limit(all ? page : limit);
    auto reply = flatcast::audit::FetchLog(client, q, all, timeout, &std::cerr);
    if (!reply.ok()) return Fail(reply.status());
    std::cout << flatcast::audit::RenderLog(*reply, out_format);
    return 0;
  }

  v1::AuditRequest request;
  if (*rollup) {
    auto* q = request.mutable_rollup();
    q->set_directive_id(id);
    q->set_region(region);
    q->set_depth(static_cast<v1::Tier>(*flatcast::TierFromName(depth)));
  } else if (*latency) {
    request.mutable_latency()->set_directive_id(id);
    request.mutable_latency()->set_region(region);
  } else if (*history) {
    request.mutable_unit_history()->set_unit_code(unit);
  } else if (*readiness) {
    request.mutable_readiness()->set_directive_id(id);
    request.mutable_readiness()->set_region(region);
  } else if (*ratings || *burden) {
    google::protobuf::Timestamp* since_ts = *ratings ? request.mutable_ratings()->mutable_since()
                                                     : request.mutable_burden()->mutable_since();
    bool has_since = false, has_until = false;
    if (auto st = SetTime(since, since_ts, has_since); !st.ok()) return Fail(st);
    google::protobuf::Timestamp until_ts;
    if (auto st = SetTime(until, &until_ts, has_until); !st.ok()) return Fail(st);
    if (*ratings) {
      auto* q = request.mutable_ratings();
      if (!has_since) q->clear_since();
      if (has_until) *q->mutable_until() = until_ts;
      q->set_by(by == "directive" ? v1::RatingsQuery::DIRECTIVE : v1::RatingsQuery::DEPARTMENT);
      q->set_comments(comments);
    } else {
      auto* q = request.mutable_burden();
      if (!has_since) q->clear_since();
      if (has_until) *q->mutable_until() = until_ts;
      q->set_region(region);
      q->set_by(burden_by == "tier" ? v1::BurdenQuery::TIER : v1::BurdenQuery::UNIT);
    }
  } else if (*verify) {
    *request.mutable_verify() = verify_query;
  } else if (*returns) {
    auto* q = request.mutable_returns();
    q->set_directive_id(id);
    q->set_version(form_version);
    q->set_region(region);
    if (!returns_by.empty()) q->set_by(static_cast<v1::Tier>(*flatcast::TierFromName(returns_by)));
    q->set_max_units(list_units);
    for (const std::string& b : below) {
      const size_t eq = b.find('=');
      int64_t n = 0;
      const char* end = b.data() + b.size();
      auto parsed = eq == std::string::npos ? std::from_chars_result{b.data(), std::errc::invalid_argument}
                                            : std::from_chars(b.data() + eq + 1, end, n);
      if (eq == std::string::npos || eq == 0 || parsed.ec != std::errc() || parsed.ptr != end ||
          eq + 1 == b.size()) {
        return Fail(Status::InvalidArgument("--below takes KEY=N with N a whole number, not \"" +
                                            b + "\""));
      }
      (*q->mutable_below())[b.substr(0, eq)] = n;
    }
  }
  auto reply = flatcast::audit::Ask(client, request, timeout);
  if (!reply.ok()) return Fail(reply.status());
  namespace audit = flatcast::audit;
  switch (reply->result_case()) {
    case v1::AuditReply::kRollup: std::cout << audit::RenderRollup(reply->rollup(), out_format); break;
    case v1::AuditReply::kLatency: std::cout << audit::RenderLatency(reply->latency(), out_format); break;
    case v1::AuditReply::kUnitHistory:
      std::cout << audit::RenderUnitHistory(reply->unit_history(), out_format);
      break;
    case v1::AuditReply::kReadiness:
      std::cout << audit::RenderReadiness(reply->readiness(), out_format);
      break;
    case v1::AuditReply::kRatings:
      std::cout << audit::RenderRatings(reply->ratings(), by == "directive", out_format);
      break;
    case v1::AuditReply::kBurden:
      std::cout << audit::RenderBurden(reply->burden(), burden_by == "tier", out_format);
      break;
    case v1::AuditReply::kReturns:
      std::cout << audit::RenderReturns(reply->returns(), out_format);
      break;
    case v1::AuditReply::kVerify:
      std::cout << audit::RenderVerify(reply->verify(), out_format);
      return reply->verify().ok() ? 0 : 1;
    default:
      return Fail(Status::Internal("the broker answered another question"));
  }
  return 0;
}

// flatcast-swarm: thousands of terminals in one process, for load and
// end-to-end tests. Progress lines and the final summary are JSON on stdout;
// logs go to stderr.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "flatcast/curve.h"
#include "flatcast/registry.h"
#include "flatcast/program.h"
#include "flatcast/subscriber/swarm.h"

namespace {

int Fail(const flatcast::Status& status) {
  std::cerr << "flatcast-swarm: " << status.message() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flatcast-swarm: many terminals in one process"};
  std::string registry_path, report_path, inboxes_path, latencies_path, log_level = "info";
  std::vector<std::string> tier_names{"district", "street", "community"};
  std::vector<std::string> exclude;
  std::optional<uint32_t> expect;
  int timeout_s = 0;
  flatcast::subscriber::SwarmOptions options;

  app.add_option("--registry", registry_path, "registry file (TSV)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--endpoint", options.endpoint, "broker endpoint, e.g. tcp://127.0.0.1:7700")
      ->required();
  app.add_option("--source-address", options.source_address,
                 "connect from this local address, e.g. 127.0.3.1 (a fresh one avoids the "
                 "TIME_WAIT connections of an earlier run)");
  app.add_option("--region", options.region, "play the units at or below this code (default: all)");
  app.add_option("--tiers", tier_names, "tiers to play")
      ->delimiter(',')
      ->check(CLI::IsMember({"province", "city", "district", "street", "community"}));
  app.add_option("--shard", options.shard, "which shard this process plays (0-based)");
  app.add_option("--shards", options.shards, "number of shards the units are split into");
  app.add_option("--exclude", exclude, "unit codes to leave out")->delimiter(',');
  app.add_option("--expect", expect,
                 "finish (exit 0) once every unit stored this many directives, all acks confirmed");
  app.add_option("--timeout-s", timeout_s,
                 "give up after this many seconds (exit 1 with --expect); 0: no limit (default "
                 "600 with --expect)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--report", report_path, "also write the final summary to this file");
  app.add_option("--inboxes", inboxes_path,
                 "at the end, write each unit's stored directives to this file "
                 "(\"<unit>\\t<id>.v<version>,...\" per line)");
  app.add_option("--latencies", latencies_path,
                 "at the end, write each first delivery to this file (\"<seq>\\t<microseconds "
                 "from sent to receipt>\" per line), for latency distributions");
  app.add_option("--connect-batch", options.connect_batch, "sockets connected per millisecond")
      ->check(CLI::PositiveNumber);
  app.add_option("--connect-window", options.connect_window,
                 "at most this many connections shaking hands at once (default 1000)")
      ->check(CLI::PositiveNumber);
  app.add_option("--rcvhwm", options.rcvhwm,
                 "ZMQ_RCVHWM of each terminal socket (default: ZeroMQ's 1000); tiny values make "
                 "the broker drop deliveries, for fault tests")
      ->check(CLI::PositiveNumber);
  std::string key_seed_file, broker_key_file;
  std::vector<std::string> ack_levels;
  app.add_option("--ack-levels", ack_levels,
                 "levels each unit also acknowledges at once after RECEIVED, as an operator "
                 "would: confirmed, ready")
      ->delimiter(',')
      ->check(CLI::IsMember({"confirmed", "ready"}));
  app.add_flag("--fetch-documents", options.fetch_documents,
               "every unit fetches the documents attached to what it stores and checks each "
               "against its SHA-256 (keeping only the digest); --expect waits for them too");
  app.add_flag("--answer-forms", options.answer_forms,
               "each unit answers a directive's return form at once, with made-up values (about "
               "one in ten below each threshold)");
  app.add_option("--key-seed", key_seed_file,
                 "unit key seed file (flatcast-keys seed): each unit connects over CURVE with "
                 "the key derived for it (with --broker-key)")
      ->check(CLI::ExistingFile);
  app.add_option("--broker-key", broker_key_file, "the broker's public CURVE key file")
      ->check(CLI::ExistingFile);
  int progress_ms = 1000;
  app.add_option("--progress-interval-ms", progress_ms, "write a progress line this often")
      ->capture_default_str()
      ->check(CLI::Range(10, 60000));
  app.add_flag("--warm-standby,!--no-warm-standby", options.warm_standby,
               "with a pair's two endpoints, also keep an authenticated connection to the other "
               "broker and switch to it on a failover (default; docs/HA.md)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  flatcast::LogToStderr("flatcast-swarm", log_level);

  options.tiers.clear();
  for (const std::string& name : tier_names) options.tiers.push_back(*flatcast::TierFromName(name));
  options.exclude.insert(exclude.begin(), exclude.end());
  for (const std::string& level : ack_levels) {
    options.auto_levels.push_back(level == "ready" ? flatcast::v1::READY : flatcast::v1::CONFIRMED);
  }
  options.expect = expect;
  options.progress_interval = std::chrono::milliseconds(progress_ms);
  if (app.count("--timeout-s") == 0 && expect) timeout_s = 600;
  options.timeout = std::chrono::seconds(timeout_s);

  if (key_seed_file.empty() != broker_key_file.empty()) {
    return Fail(flatcast::Status::InvalidArgument(
        "a CURVE swarm needs both --key-seed and --broker-key"));
  }
  if (!key_seed_file.empty()) {
    auto seed = flatcast::ReadSeedFile(key_seed_file);
    if (!seed.ok()) return Fail(seed.status());
    options.key_seed = std::move(seed).value();
    auto broker_key = flatcast::ReadPublicKey(broker_key_file, flatcast::KeyKind::kCurve);
    if (!broker_key.ok()) return Fail(broker_key.status());
    options.broker_public_key = std::move(broker_key).value();
  }
  auto registry = flatcast::Registry::Load(registry_path);
  if (!registry.ok()) return Fail(registry.status());

  std::ofstream inboxes;
  if (!inboxes_path.empty()) {
    inboxes.open(inboxes_path, std::ios::trunc);
    if (!inboxes) return Fail(flatcast::Status::IOError("cannot write " + inboxes_path));
  }

  std::ofstream latencies;
  if (!latencies_path.empty()) {
    latencies.open(latencies_path, std::ios::trunc);
    if (!latencies) return Fail(flatcast::Status::IOError("cannot write " + latencies_path));
  }
  const std::atomic<bool>& stop = flatcast::StopOnSignals();
  auto summary = flatcast::subscriber::RunSwarm(*registry, options, stop, std::cout,
                                                inboxes_path.empty() ? nullptr : &inboxes,
                                                latencies_path.empty() ? nullptr : &latencies);
  if (!summary.ok()) return Fail(summary.status());
  if (!inboxes_path.empty()) {
    inboxes.close();
    if (!inboxes) return Fail(flatcast::Status::IOError("cannot write " + inboxes_path));
  }

  std::string json = summary->ToJson();
  std::cout << json << std::endl;
  if (!report_path.empty()) {
    std::ofstream report(report_path, std::ios::trunc);
    report << json << "\n";
    report.close();
    if (!report) {
      return Fail(flatcast::Status::IOError("cannot write report " + report_path));
    }
  }
  if (expect && !summary->complete) {
    spdlog::error("{} of {} units did not get {} directives with confirmed acks {}",
                  summary->units - summary->complete_units, summary->units, *expect,
                  summary->interrupted ? "before the swarm was stopped" : "in time");
    return 1;
  }
  return 0;
}

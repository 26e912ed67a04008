// flatcast-audit: who acknowledged a directive and who did not, asked of the
// broker's read-only query endpoint.
#include <CLI/CLI.hpp>

#include <iostream>

#include "flatcast/queries.h"
#include "flatcast/report.h"

int main(int argc, char** argv) {
  CLI::App app{"flatcast audit: acknowledgement coverage of directives"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the subcommand
  std::string broker = "tcp://127.0.0.1:7700";
  int timeout_ms = 30000;
  app.add_option("-b,--broker", broker, "broker endpoint")->capture_default_str();
  app.add_option("--timeout-ms", timeout_ms, "wait this long for the answer")->capture_default_str();
  std::string curve_key_file, broker_key_file;
  app.add_option("--curve-key", curve_key_file,
                 "this auditor's secret CURVE key file, for a broker with CURVE (with --broker-key)")
      ->check(CLI::ExistingFile);
  app.add_option("--broker-key", broker_key_file, "the broker's public CURVE key file")
      ->check(CLI::ExistingFile);

  auto* coverage = app.add_subcommand(
      "coverage", "addressed and acknowledged units per tier, and the units missing");
  std::string id, region, format = "table";
  uint32_t missing_limit = 50;
  coverage->add_option("id", id, "directive id")->required();
  coverage->add_option("--region", region, "only units at or below this region code");
  coverage->add_option("--format", format, "table, json or csv")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->capture_default_str();
  coverage->add_option("--missing-limit", missing_limit,
                       "list at most this many unacknowledged units")
      ->capture_default_str();
  auto* events = app.add_subcommand("events", "lifecycle events (publish, hold, release, ...)");
  std::string events_id, events_format = "table";
  events->add_option("id", events_id, "directive id (default: all directives)");
  events->add_option("--format", events_format, "table, json or csv")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto curve = flatcast::LoadCurveClientKeys(curve_key_file, broker_key_file);
  if (!curve.ok()) {
    std::cerr << "flatcast-audit: " << curve.status().message() << "\n";
    return 2;
  }
  zmq::context_t ctx(1);
  flatcast::RpcClient client(ctx, broker, *curve);
  auto as_format = [](const std::string& f) {
    return f == "json"  ? flatcast::OutputFormat::kJson
           : f == "csv" ? flatcast::OutputFormat::kCsv
                        : flatcast::OutputFormat::kTable;
  };
  if (*events) {
    auto reply = flatcast::QueryEvents(client, events_id, std::chrono::milliseconds(timeout_ms));
    if (!reply.ok()) {
      std::cerr << "flatcast-audit: " << reply.status().message() << "\n";
      return reply.status().code() == flatcast::Status::Code::kUnavailable ? 3 : 2;
    }
    std::cout << flatcast::RenderEvents(reply.value(), as_format(events_format));
    return 0;
  }
  auto reply = flatcast::QueryCoverage(client, id, region, missing_limit,
                                       std::chrono::milliseconds(timeout_ms));
  if (!reply.ok()) {
    std::cerr << "flatcast-audit: " << reply.status().message() << "\n";
    return reply.status().code() == flatcast::Status::Code::kUnavailable ? 3 : 2;
  }
  std::cout << flatcast::RenderCoverage(reply.value(), as_format(format));
  return 0;
}

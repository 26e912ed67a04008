// flatcast-audit: who acknowledged a directive and who did not, asked of the
// broker's read-only query endpoint.
#include <CLI/CLI.hpp>

#include <iostream>

#include "flatcast/queries.h"
#include "flatcast/report.h"

int main(int argc, char** argv) {
  CLI::App app{"flatcast audit: acknowledgement coverage of directives"};
  app.require_subcommand(1);
  std::string broker = "tcp://127.0.0.1:7700";
  int timeout_ms = 30000;
  app.add_option("-b,--broker", broker, "broker endpoint")->capture_default_str();
  app.add_option("--timeout-ms", timeout_ms, "wait this long for the answer")->capture_default_str();

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
  CLI11_PARSE(app, argc, argv);

  zmq::context_t ctx(1);
  flatcast::RpcClient client(ctx, broker);
  auto reply = flatcast::QueryCoverage(client, id, region, missing_limit,
                                       std::chrono::milliseconds(timeout_ms));
  if (!reply.ok()) {
    std::cerr << "flatcast-audit: " << reply.status().message() << "\n";
    return reply.status().code() == flatcast::Status::Code::kUnavailable ? 3 : 2;
  }
  auto fmt = format == "json"  ? flatcast::OutputFormat::kJson
             : format == "csv" ? flatcast::OutputFormat::kCsv
                               : flatcast::OutputFormat::kTable;
  std::cout << flatcast::RenderCoverage(reply.value(), fmt);
  return 0;
}

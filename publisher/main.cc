// flatcast-publisher: publish a directive and follow its acknowledgements.
#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>
#include <sstream>

#include "flatcast/directive.h"
#include "flatcast/publisher/publisher.h"
#include "flatcast/queries.h"
#include "flatcast/report.h"

namespace {

int Fail(const flatcast::Status& st, bool json) {
  if (json) {
    std::cout << "{\"error\": \"" << st.message() << "\"}\n";
  }
  std::cerr << "flatcast-publisher: " << st.message() << "\n";
  return st.code() == flatcast::Status::Code::kUnavailable ? 3 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flatcast publisher: publish directives to the broker"};
  app.require_subcommand(1);
  std::string broker = "tcp://127.0.0.1:7700";
  bool json = false;
  int timeout_ms = 5000;
  app.add_option("-b,--broker", broker, "broker endpoint")->capture_default_str();
  app.add_flag("--json", json, "print JSON instead of text");
  app.add_option("--timeout-ms", timeout_ms, "wait this long for each answer")->capture_default_str();

  auto* pub = app.add_subcommand("publish", "publish a directive from flags or a file");
  flatcast::publisher::DirectiveFlags f;
  std::string file, body_file, publisher_name, idempotency_key;
  int attempts = 3;
  pub->add_option("-f,--file", file, "directive file (.toml or .json)")->check(CLI::ExistingFile);
  pub->add_option("--issuer", f.issuer, "issuing unit's code, e.g. 52 or 5201");
  pub->add_option("--department", f.department, "issuing department code, e.g. HEALTH");
  pub->add_option("--title", f.title, "title");
  pub->add_option("--body", f.body, "body text");
  pub->add_option("--body-file", body_file, "read the body from this file")->check(CLI::ExistingFile);
  pub->add_option("--action", f.actions, "action item \"what|tier[|due]\" (repeatable)");
  pub->add_option("--scope", f.scope, "region code in scope (repeatable)");
  pub->add_option("--tiers", f.tiers, "target tiers: any of city,district,street,community")->delimiter(',');
  pub->add_option("--status", f.status, "actual, exercise or test")->capture_default_str();
  pub->add_flag("--public", f.is_public, "the directive is for the public too");
  pub->add_option("--public-release", f.public_release, "public release time (RFC 3339)");
  pub->add_option("--expires", f.expires, "expiry time (RFC 3339)");
  pub->add_option("--reference", f.references, "id of an earlier directive (repeatable)");
  pub->add_option("--note", f.internal_note, "internal note (never public)");
  pub->add_option("--publisher", publisher_name, "publisher name recorded with the directive");
  pub->add_option("--idempotency-key", idempotency_key,
                  "retry key; the same key never publishes twice (default: random)");
  pub->add_option("--attempts", attempts, "tries when the broker does not answer")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));

  auto* status = app.add_subcommand("status", "delivery and acknowledgement counts of a directive");
  std::string status_id;
  status->add_option("id", status_id, "directive id")->required();

  CLI11_PARSE(app, argc, argv);
  zmq::context_t ctx(1);
  flatcast::RpcClient client(ctx, broker);
  auto timeout = std::chrono::milliseconds(timeout_ms);

  if (*pub) {
    flatcast::v1::PublishRequest request;
    if (!file.empty()) {
      auto d = flatcast::LoadDirectiveFile(file);
      if (!d.ok()) return Fail(d.status(), json);
      *request.mutable_directive() = std::move(d).value();
    } else {
      if (!body_file.empty()) {
        std::ifstream in(body_file);
        std::stringstream ss;
        ss << in.rdbuf();
        f.body = ss.str();
      }
      auto d = flatcast::publisher::BuildDirective(f);
      if (!d.ok()) return Fail(d.status(), json);
      *request.mutable_directive() = std::move(d).value();
    }
    request.set_publisher(publisher_name);
    request.set_idempotency_key(idempotency_key.empty() ? flatcast::publisher::NewIdempotencyKey()
                                                        : idempotency_key);
    auto receipt = flatcast::publisher::Publish(client, request, attempts, timeout);
    if (!receipt.ok()) return Fail(receipt.status(), json);
    std::cout << (json ? flatcast::ReceiptToJson(receipt.value()) + "\n"
                       : flatcast::ReceiptToText(receipt.value()));
    return 0;
  }
  auto coverage = flatcast::QueryCoverage(client, status_id, "", 0, timeout);
  if (!coverage.ok()) return Fail(coverage.status(), json);
  std::cout << flatcast::RenderCoverage(coverage.value(), json ? flatcast::OutputFormat::kJson
                                                               : flatcast::OutputFormat::kTable);
  return 0;
}

// flatcast-bench-publish: publishes directives for the benchmark, timing
// each from the moment its request is sent: K directives of B-byte bodies
// back to back (each waits for its receipt, or with --pipeline all are sent
// at once), signed and over CURVE when given keys, built by the same
// publisher library as flatcast-publisher.
//
//   flatcast-bench-publish --broker EP --count K [--body-bytes 4096]
//     [--scope 52] [--tiers city,district,street,community] [--publisher NAME]
//     [--issuer 52] [--department HEALTH]
//     [--curve-key F --broker-key F] [--signing-key F] [--pipeline]
//
// Prints one JSON line per directive: {"id", "seq", "t0_us", "receipt_us",
// "sent_us", "addressed_units"} with wall-clock microseconds.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "flatcast/curve.h"
#include "flatcast/duration.h"
#include "flatcast/publisher/publisher.h"
#include "flatcast/wire.h"
#include "flatcast/zmq_tuning.h"

namespace {

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t Us(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000000 + t.nanos() / 1000;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flatcast-bench-publish: timed publishes for the benchmark"};
  std::string broker, publisher = "guizhou-health", curve_key, broker_key, signing_key;
  std::string issuer = "52", department = "HEALTH";
  std::vector<std::string> scope{"52"}, tiers{"city", "district", "street", "community"};
  int count = 1;
  bool pipeline = false;
  size_t body_bytes = 4096;
  app.add_option("--broker", broker, "broker endpoint")->required();
  app.add_option("--count", count, "directives to publish back to back")->check(CLI::PositiveNumber);
  app.add_option("--body-bytes", body_bytes, "body size");
  app.add_flag("--pipeline", pipeline,
               "send every request at once, then collect the receipts (default: one at a time)");
  app.add_option("--scope", scope, "scope codes")->delimiter(',');
  app.add_option("--tiers", tiers, "target tiers")->delimiter(',');
  app.add_option("--publisher", publisher, "publisher name");
  app.add_option("--issuer", issuer, "issuing unit (00: the nation)");
  app.add_option("--department", department, "issuing department");
  app.add_option("--curve-key", curve_key, "CURVE secret key file");
  app.add_option("--broker-key", broker_key, "broker public key file");
  app.add_option("--signing-key", signing_key, "signing key file");
  CLI11_PARSE(app, argc, argv);

  auto fail = [](const flatcast::Status& st) {
    std::cerr << "flatcast-bench-publish: " << st.message() << "\n";
    return 1;
  };
  auto curve = flatcast::LoadCurveClientKeys(curve_key, broker_key);
  if (!curve.ok()) return fail(curve.status());
  std::optional<flatcast::KeyPair> signing;
  if (!signing_key.empty()) {
    auto pair = flatcast::ReadKeyPair(signing_key, flatcast::KeyKind::kSigning);
    if (!pair.ok()) return fail(pair.status());
    signing = *pair;
  }
  // The requests, built and signed before the clock starts.
  std::vector<flatcast::v1::Envelope> requests;
  for (int k = 0; k < count; ++k) {
    flatcast::publisher::DirectiveFlags f;
    f.issuer = issuer;
    f.department = department;
    f.title = fmt::format("benchmark directive {}", k + 1);
    f.body = std::string(body_bytes, 'x');
    f.actions = {"prepare|community"};
    f.scope = scope;
    f.tiers = tiers;
    f.status = "exercise";
    auto d = flatcast::publisher::BuildDirective(f);
    if (!d.ok()) return fail(d.status());
    if (signing) {
      auto st = flatcast::publisher::SignForPublishing(*d, *signing,
                                                       flatcast::SystemClock::Instance().Now());
      if (!st.ok()) return fail(st);
    }
    flatcast::v1::Envelope env;
    env.set_protocol_version(flatcast::wire::kProtocolVersion);
    env.set_correlation_id(static_cast<uint64_t>(k + 1));
    auto* request = env.mutable_publish();
    *request->mutable_directive() = *d;
    request->set_publisher(publisher);
    request->set_idempotency_key(flatcast::publisher::NewIdempotencyKey());
    requests.push_back(std::move(env));
  }

  zmq::context_t ctx(1);
  zmq::socket_t socket(ctx, zmq::socket_type::dealer);
  flatcast::TuneClientSocket(socket);
  if (*curve) {
    if (auto st = flatcast::ApplyCurveClient(socket, **curve); !st.ok()) return fail(st);
  }
  socket.connect(broker);
  auto receive = [&](std::chrono::milliseconds timeout) -> std::optional<flatcast::v1::Envelope> {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, timeout);
    if (!(item.revents & ZMQ_POLLIN)) return std::nullopt;
    zmq::message_t m;
    if (!socket.recv(m, zmq::recv_flags::dontwait)) return std::nullopt;
    auto env = flatcast::wire::Decode(m.to_string_view(), 64 << 20);
    if (!env.ok()) return std::nullopt;
    return *env;
  };
  // Connect (and, with CURVE, shake hands) before the clock starts: the
  // figures are about publishing, not about opening a connection.
  flatcast::v1::Envelope warm_up;
  warm_up.set_protocol_version(flatcast::wire::kProtocolVersion);
  warm_up.mutable_events_query()->set_directive_id("-");
  socket.send(zmq::buffer(flatcast::wire::Encode(warm_up)));
  if (!receive(std::chrono::seconds(60))) return fail(flatcast::Status::Unavailable("no answer"));

  std::vector<int64_t> t0(requests.size());
  auto send = [&](size_t k) {
    t0[k] = NowUs();
    socket.send(zmq::buffer(flatcast::wire::Encode(requests[k])));
  };
  size_t answered = 0;
  auto take = [&]() -> int {
    auto reply = receive(std::chrono::seconds(120));
    if (!reply) return fail(flatcast::Status::Unavailable("no receipt within 120 s"));
    int64_t at = NowUs();
    if (reply->has_error()) return fail(flatcast::Status::InvalidArgument(reply->error().message()));
    if (!reply->has_receipt()) return 0;  // not ours
    const auto& r = reply->receipt();
    size_t k = reply->correlation_id() - 1;
    std::cout << nlohmann::json{{"id", r.id()},
                                {"seq", r.seq()},
                                {"t0_us", t0[k]},
                                {"receipt_us", at},
                                {"sent_us", Us(r.sent())},
                                {"addressed_units", r.addressed_units()}}
                     .dump()
              << std::endl;
    ++answered;
    return 0;
  };
  if (pipeline) {
    for (size_t k = 0; k < requests.size(); ++k) send(k);
    while (answered < requests.size()) {
      if (int rc = take(); rc != 0) return rc;
    }
  } else {
    for (size_t k = 0; k < requests.size(); ++k) {
      send(k);
      size_t before = answered;
      while (answered == before) {
        if (int rc = take(); rc != 0) return rc;
      }
    }
  }
  return 0;
}

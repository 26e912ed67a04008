#include "query_worker.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <future>
#include <vector>
#include <zmq_addon.hpp>

#include "flatcast/wire.h"

namespace flatcast::broker {

namespace {

constexpr auto kStopCheck = std::chrono::milliseconds(100);

v1::ErrorCode CodeOf(const Status& st) {
  switch (st.code()) {
    case Status::Code::kNotFound: return v1::NOT_FOUND;
    case Status::Code::kInvalidArgument: return v1::INVALID;
    case Status::Code::kPermissionDenied: return v1::FORBIDDEN;
    case Status::Code::kTooLarge: return v1::TOO_LARGE;
    default: return v1::INTERNAL;
  }
}

}  // namespace

QueryWorker::QueryWorker(zmq::context_t& context, const Store& store, const Registry& registry,
                         const Clock& clock)
    : context_(context), queries_(store, registry, clock) {
  static std::atomic<uint64_t> next{1};
  address_ = fmt::format("inproc://flatcast-query-worker-{}", next++);
}

Result<std::unique_ptr<QueryWorker>> QueryWorker::Start(zmq::context_t& context, const Store& store,
                                                        const Registry& registry,
                                                        const Clock& clock) {
  std::unique_ptr<QueryWorker> worker(new QueryWorker(context, store, registry, clock));
  try {
    worker->loop_end_ = zmq::socket_t(context, zmq::socket_type::pair);
    worker->loop_end_.set(zmq::sockopt::linger, 0);
    worker->loop_end_.bind(worker->address_);
  } catch (const zmq::error_t& e) {
    return Status::IOError(fmt::format("query worker: {}", e.what()));
  }
  std::promise<Status> started;
  std::future<Status> started_result = started.get_future();
  QueryWorker* self = worker.get();
  worker->thread_ = std::thread([self, &started] {
    zmq::socket_t socket;
    try {
      socket = zmq::socket_t(self->context_, zmq::socket_type::pair);
      socket.set(zmq::sockopt::linger, 0);
      socket.connect(self->address_);
    } catch (const zmq::error_t& e) {
      started.set_value(Status::IOError(fmt::format("query worker: {}", e.what())));
      return;
    }
    started.set_value(Status::Ok());
    self->Serve(socket);
  });
  Status st = started_result.get();
  if (!st.ok()) {
    worker->thread_.join();
    return st;
  }
  return worker;
}

QueryWorker::~QueryWorker() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void QueryWorker::Submit(const std::string& routing, const std::string& body) {
  std::vector<zmq::const_buffer> frames = {zmq::buffer(routing), zmq::buffer(body)};
  try {
    if (!zmq::send_multipart(loop_end_, frames, zmq::send_flags::dontwait)) {
      spdlog::warn("audit query dropped: the query worker's queue is full");
    }
  } catch (const zmq::error_t& e) {
    spdlog::error("audit query not queued: {}", e.what());
  }
}

std::optional<std::pair<std::string, std::string>> QueryWorker::TakeReply() {
  std::vector<zmq::message_t> frames;
  try {
    if (!zmq::recv_multipart(loop_end_, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
      return std::nullopt;
    }
  } catch (const zmq::error_t& e) {
    spdlog::error("query worker reply: {}", e.what());
    return std::nullopt;
  }
  if (frames.size() != 2) return std::nullopt;
  return std::make_pair(frames[0].to_string(), frames[1].to_string());
}

void QueryWorker::Serve(zmq::socket_t& socket) {
  while (!stop_.load()) {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, kStopCheck);
      if (!(item.revents & ZMQ_POLLIN)) continue;
      std::vector<zmq::message_t> frames;
      if (!zmq::recv_multipart(socket, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
        continue;
      }
      if (frames.size() != 2) continue;
      std::string reply = Answer(frames[1].to_string());
      std::vector<zmq::const_buffer> out = {zmq::buffer(frames[0].data(), frames[0].size()),
                                            zmq::buffer(reply)};
      zmq::send_multipart(socket, out);
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return;
      if (e.num() != EINTR) spdlog::error("query worker: {}", e.what());
    }
  }
}

std::string QueryWorker::Answer(const std::string& body) const {
  // The loop decoded and authorized this body already.
  Result<v1::Envelope> request = wire::Decode(body, body.size());
  if (!request.ok() || !request->has_audit_request()) {
    return wire::EncodeError(0, v1::MALFORMED, "not an audit request");
  }
  auto started = std::chrono::steady_clock::now();
  Result<v1::AuditReply> reply = queries_.Run(request->audit_request());
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  started);
  if (!reply.ok()) {
    spdlog::info("audit query refused ({} ms): {}", ms.count(), reply.status().message());
    return wire::EncodeError(request->correlation_id(), CodeOf(reply.status()),
                             reply.status().message());
  }
  spdlog::debug("audit query answered in {} ms", ms.count());
  v1::Envelope env;
  env.set_protocol_version(wire::kProtocolVersion);
  env.set_correlation_id(request->correlation_id());
  *env.mutable_audit_reply() = std::move(reply).value();
  return wire::Encode(env);
}

}  // namespace flatcast::broker

// The broker's query worker: audit queries read the store, which can take
// long on a national registry (a coverage rollup scans every acknowledgement
// of a directive), so they are answered on a thread of their own, never on
// the event loop that fans out directives and stores acknowledgements.
//
// The loop authorizes a request and Submit()s it with the peer's routing id;
// the worker answers it (AuditQueries, read-only) and the loop sends the
// reply it takes from TakeReply() when socket() is readable. Requests are
// answered one at a time, in order.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include <zmq.hpp>

#include "flatcast/broker/audit_queries.h"

namespace flatcast::broker {

class QueryWorker {
 public:
  // Starts the thread. `store`, `registry` and `clock` must outlive it.
  static Result<std::unique_ptr<QueryWorker>> Start(zmq::context_t& context, const Store& store,
                                                    const Registry& registry, const Clock& clock);
  ~QueryWorker();
  QueryWorker(const QueryWorker&) = delete;
  QueryWorker& operator=(const QueryWorker&) = delete;

  // Queues an encoded Envelope carrying an AuditRequest from `routing`.
  void Submit(const std::string& routing, const std::string& body);
  // The loop's end, readable when a reply is waiting.
  zmq::socket_t& socket() { return loop_end_; }
  // The next reply: (routing id, encoded Envelope); nullopt when none waits.
  std::optional<std::pair<std::string, std::string>> TakeReply();

 private:
  QueryWorker(zmq::context_t& context, const Store& store, const Registry& registry,
              const Clock& clock);
  void Serve(zmq::socket_t& socket);
  std::string Answer(const std::string& body) const;

  zmq::context_t& context_;
  AuditQueries queries_;
  std::string address_;
  zmq::socket_t loop_end_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace flatcast::broker

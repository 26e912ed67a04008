// The broker's query worker: audit queries, coverage and events read the
// store, which can take long on a national registry (a rollup scans every
// acknowledgement of a directive), so they are answered on a thread of
// their own, never on the event loop that fans out directives and stores
// acknowledgements. Jobs are answered one at a time, in order; the loop
// learns that answers wait when wake_fd() becomes readable.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "flatcast/broker/audit_queries.h"
#include "flatcast/broker/query_port.h"

namespace flatcast::broker {

class QueryWorker final : public QueryPort {
 public:
  // Starts the thread. `store`, `registry` and `clock` must outlive it. At
  // most `max_waiting` jobs wait; more are refused.
  static Result<std::unique_ptr<QueryWorker>> Start(const Store& store, const Registry& registry,
                                                    const Clock& clock, size_t max_waiting = 1000);
  ~QueryWorker() override;
  QueryWorker(const QueryWorker&) = delete;
  QueryWorker& operator=(const QueryWorker&) = delete;

  Status Submit(QueryJob job) override;
  std::vector<QueryAnswer> TakeAnswers() override;
  // Readable while answers wait (an eventfd); for the loop's poll.
  int wake_fd() const { return wake_fd_; }
  // Queries waiting for the worker.
  size_t waiting() {
    std::lock_guard<std::mutex> lock(mu_);
    return jobs_.size();
  }

 private:
  QueryWorker(const Store& store, const Registry& registry, const Clock& clock, size_t max_waiting,
              int wake_fd)
      : queries_(store, registry, clock), max_waiting_(max_waiting), wake_fd_(wake_fd) {}
  void Serve();

  AuditQueries queries_;
  const size_t max_waiting_;
  const int wake_fd_;
  std::mutex mu_;
  std::condition_variable work_;
  std::deque<QueryJob> jobs_;          // guarded by mu_
  std::vector<QueryAnswer> answers_;   // guarded by mu_
  bool stop_ = false;                  // guarded by mu_
  std::thread thread_;
};

}  // namespace flatcast::broker

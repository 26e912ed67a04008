#include "query_worker.h"

#include <fmt/format.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace flatcast::broker {

Result<std::unique_ptr<QueryWorker>> QueryWorker::Start(const Store& store, const Registry& registry,
                                                        const Clock& clock, size_t max_waiting) {
  int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return Status::IOError(fmt::format("query worker: eventfd: {}", std::strerror(errno)));
  std::unique_ptr<QueryWorker> worker(new QueryWorker(store, registry, clock, max_waiting, fd));
  worker->thread_ = std::thread([w = worker.get()] { w->Serve(); });
  return worker;
}

QueryWorker::~QueryWorker() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  work_.notify_one();
  if (thread_.joinable()) thread_.join();
  ::close(wake_fd_);
}

Status QueryWorker::Submit(QueryJob job) {
  {
    std::lock_guard lock(mu_);
    if (jobs_.size() >= max_waiting_) {
      return Status::Unavailable(fmt::format(
          "the broker's query worker has {} queries waiting; ask again later", jobs_.size()));
    }
    jobs_.push_back(std::move(job));
  }
  work_.notify_one();
  return Status::Ok();
}

std::vector<QueryAnswer> QueryWorker::TakeAnswers() {
  uint64_t count = 0;
  (void)!::read(wake_fd_, &count, sizeof count);  // resets the eventfd; EAGAIN when nothing waits
  std::lock_guard lock(mu_);
  return std::exchange(answers_, {});
}

void QueryWorker::Serve() {
  std::unique_lock lock(mu_);
  while (true) {
    work_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
    if (stop_) return;
    QueryJob job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    QueryAnswer answer{job.routing, AnswerQuery(queries_, job)};
    lock.lock();
    answers_.push_back(std::move(answer));
    const uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
  }
}

}  // namespace flatcast::broker

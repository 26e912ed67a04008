#include "leadership_runner.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace flatcast::broker {

Result<std::unique_ptr<LeadershipRunner>> LeadershipRunner::Start(
    std::unique_ptr<ha::Etcd> etcd, ha::LeadershipOptions options,
    std::chrono::milliseconds period, std::chrono::milliseconds join_for) {
  FLATCAST_RETURN_IF_ERROR(ha::ValidateLeadershipOptions(options));
  std::unique_ptr<LeadershipRunner> runner(
      new LeadershipRunner(std::move(etcd), std::move(options), period));
  const SteadyTime until = SystemSteadyClock::Instance().Now() + join_for;
  std::string last;
  for (;;) {
    Status joined = runner->leadership_.Join();
    if (joined.ok()) break;
    if (SystemSteadyClock::Instance().Now() >= until) {
      return joined.WithContext(fmt::format("cannot join broker group {} through etcd ({})",
                                            runner->options_.group,
                                            runner->etcd_->endpoint()));
    }
    if (joined.message() != last) {
      spdlog::warn("group {}: {} (trying again for up to {} s)", runner->options_.group,
                   joined.message(),
                   std::chrono::duration_cast<std::chrono::seconds>(join_for).count());
      last = joined.message();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  runner->Publish(runner->leadership_.Step());
  runner->thread_ = std::thread([r = runner.get()] { r->Run(); });
  return runner;
}

LeadershipRunner::LeadershipRunner(std::unique_ptr<ha::Etcd> etcd, ha::LeadershipOptions options,
                                   std::chrono::milliseconds period)
    : etcd_(std::move(etcd)),
      options_(std::move(options)),
      leadership_(*etcd_, SystemSteadyClock::Instance(), options_),
      period_(period) {}

LeadershipRunner::~LeadershipRunner() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  epoch_ = 0;
  if (Status st = leadership_.Resign(); !st.ok()) {
    spdlog::warn("group {}: {}", options_.group, st.ToString());
  }
  if (Status st = leadership_.Leave(); !st.ok()) {
    spdlog::warn("group {}: leaving: {}", options_.group, st.ToString());
  }
}

void LeadershipRunner::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    std::optional<std::string> wanted = wanted_standby_;
    lock.unlock();
    const ha::LeadershipView& view = leadership_.Step();
    if (wanted && view.role == ha::Role::kLeader &&
        (!view.sync.exists || view.sync.standby != *wanted ||
         view.sync.epoch != view.leader.epoch)) {
      Status st = leadership_.SetSyncStandby(*wanted);
      if (st.ok()) {
        spdlog::info("group {}: the sync record names {} (epoch {})", options_.group,
                     wanted->empty() ? std::string("no standby") : "standby " + *wanted,
                     view.leader.epoch);
      } else {
        spdlog::warn("group {}: {}", options_.group, st.ToString());
      }
    }
    Publish(leadership_.view());
    lock.lock();
    if (wanted_standby_ == wanted) {
      wake_.wait_for(lock, period_);
    }
  }
}

void LeadershipRunner::Publish(const ha::LeadershipView& view) {
  const bool leads = view.role == ha::Role::kLeader;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    view_ = view;
  }
  valid_until_ns_ = leads ? std::chrono::duration_cast<std::chrono::nanoseconds>(
                                view.valid_until.time_since_epoch())
                                .count()
                          : 0;
  epoch_ = leads ? view.leader.epoch : 0;
  ++generation_;
}

ha::LeadershipView LeadershipRunner::view() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return view_;
}

int64_t LeadershipRunner::EpochNow() const {
  const int64_t epoch = epoch_.load();
  if (epoch == 0) return 0;
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          SystemSteadyClock::Instance().Now().time_since_epoch())
                          .count();
  return now < valid_until_ns_.load() ? epoch : 0;
}

std::string LeadershipRunner::recorded_standby() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!view_.sync.exists || view_.sync.epoch != view_.leader.epoch ||
      view_.role != ha::Role::kLeader) {
    return "";
  }
  return view_.sync.standby;
}

void LeadershipRunner::RecordStandby(const std::string& standby) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (wanted_standby_ == standby) return;
    wanted_standby_ = standby;
  }
  wake_.notify_all();
}

}  // namespace flatcast::broker

#include "flatcast/subscriber/hooks.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <signal.h>
#include <unistd.h>

#include <utility>  // before Asio: Boost 1.74 uses std::exchange without including it

#include <array>
#include <boost/asio.hpp>
#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <cstdlib>
#include <filesystem>
#include <fcntl.h>

#include <functional>
#include <mutex>
#include <optional>
#include <thread>

namespace flatcast::subscriber {

namespace bp = boost::process;

namespace {

constexpr auto kMaxTimeout = std::chrono::seconds(600);

std::string Describe(const HookConfig& hook) {
  return hook.command.empty() ? std::string("(no command)") : hook.command.front();
}

// The first line of the output, for the log.
std::string FirstLine(const std::string& output) {
  std::string line = output.substr(0, output.find('\n'));
  if (line.size() > 200) line = line.substr(0, 200) + "...";
  return line;
}

}  // namespace

Status CheckHookConfig(const HookConfig& hook) {
  if (hook.on != "directive" && hook.on != "overdue") {
    return Status::InvalidArgument(
        fmt::format("hook on \"{}\": on must be \"directive\" or \"overdue\"", hook.on));
  }
  if (hook.command.empty() || hook.command.front().empty()) {
    return Status::InvalidArgument(fmt::format("hook on {}: command is empty", hook.on));
  }
  const std::string& exe = hook.command.front();
  if (exe.front() != '/') {
    return Status::InvalidArgument(fmt::format(
        "hook on {}: the command \"{}\" must be an absolute path (hooks run without a shell "
        "and without a search of PATH)",
        hook.on, exe));
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(exe, ec) || ::access(exe.c_str(), X_OK) != 0) {
    return Status::InvalidArgument(
        fmt::format("hook on {}: {} is not an executable file", hook.on, exe));
  }
  if (hook.timeout < std::chrono::seconds(1) || hook.timeout > kMaxTimeout) {
    return Status::InvalidArgument(fmt::format("hook on {}: timeout_s must be 1 to {}, not {}",
                                               hook.on, kMaxTimeout.count(),
                                               hook.timeout.count()));
  }
  return Status::Ok();
}

HookOutcome RunHook(const HookConfig& hook, const HookEvent& event,
                    const std::atomic<bool>* cancel) {
  HookOutcome outcome;
  const auto started = std::chrono::steady_clock::now();
  if (hook.command.empty()) {
    outcome.error = "no command";
    return outcome;
  }
  // A hook that exits without reading all of its input makes the write to
  // its standard input fail: with EPIPE, not with a SIGPIPE that would end
  // the daemon. The hook itself gets the default disposition and an empty
  // signal mask back before it starts.
  static std::once_flag ignore_sigpipe;
  std::call_once(ignore_sigpipe, [] { ::signal(SIGPIPE, SIG_IGN); });
  try {
    boost::asio::io_context io;
    bp::async_pipe out(io);
    std::array<char, 4096> buffer;
    std::function<void(const boost::system::error_code&, size_t)> on_read =
        [&](const boost::system::error_code& ec, size_t n) {
          const size_t room = kMaxHookOutput - std::min(kMaxHookOutput, outcome.output.size());
          const size_t keep = std::min(n, room);
          outcome.output.append(buffer.data(), keep);
          outcome.dropped += n - keep;
          if (!ec) out.async_read_some(boost::asio::buffer(buffer), on_read);
        };
    bp::environment env;
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin";
    const char* lang = std::getenv("LANG");
    env["LANG"] = lang != nullptr ? lang : "C.UTF-8";
    env["FLATCAST_EVENT"] = event.on;
    for (const auto& [name, value] : event.env) env[name] = value;
    std::vector<std::string> args(hook.command.begin() + 1, hook.command.end());
    std::error_code launch;
    // No on_exit handler: with one, Boost.Process waits for SIGCHLD through a
    // signal handler installed without SA_RESTART, and a hook's exit would
    // interrupt blocking calls on the daemon's other threads (EINTR). The
    // exit is polled instead.
    bp::child child(
        bp::exe = hook.command.front(), bp::args = args, bp::std_in < boost::asio::buffer(event.input),
        (bp::std_out & bp::std_err) > out, env, io,
        bp::extend::on_exec_setup =
            [](auto&) {
              // Between fork and exec: async-signal-safe calls only.
              ::setpgid(0, 0);  // a group of its own: a timeout kills what it started too
              ::signal(SIGPIPE, SIG_DFL);
              sigset_t none;
              sigemptyset(&none);
              ::sigprocmask(SIG_SETMASK, &none, nullptr);
              // Nothing of the daemon's but the three standard streams: a
              // background child must not keep its listening sockets.
              if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
                const long max = ::sysconf(_SC_OPEN_MAX);
                for (int fd = 3; fd < max; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
              }
            },
        launch);
    if (launch) {
      outcome.error = launch.message();
      return outcome;
    }
    outcome.started = true;
    out.async_read_some(boost::asio::buffer(buffer), on_read);
    // Until the hook has exited and its output is closed (or, when something
    // it left in the background keeps the output open, a second after it
    // exited), its timeout passes or the daemon stops.
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + hook.timeout;
    std::optional<Clock::time_point> exited_at;
    auto stop_asked = [&] { return cancel != nullptr && cancel->load(); };
    for (;;) {
      std::error_code ec;
      if (!exited_at && !child.running(ec)) exited_at = Clock::now();
      if (exited_at && (io.stopped() || Clock::now() - *exited_at >= std::chrono::seconds(1))) break;
      if (!exited_at && (Clock::now() >= deadline || stop_asked())) break;
      const auto slice = std::min<Clock::duration>(std::chrono::milliseconds(50),
                                                   std::max<Clock::duration>(deadline - Clock::now(), {}));
      if (io.stopped()) {
        std::this_thread::sleep_for(slice);  // output closed, the hook still runs
      } else {
        io.run_for(slice);
      }
    }
    if (!exited_at) {
      outcome.cancelled = stop_asked();
      outcome.timed_out = !outcome.cancelled;
      std::error_code ec;
      if (::kill(-child.id(), SIGKILL) != 0) child.terminate(ec);  // its group, else itself
      child.wait(ec);
      io.restart();
      io.run_for(std::chrono::milliseconds(200));  // what it wrote last
    }
    const int status = child.native_exit_code();
    if (WIFEXITED(status)) outcome.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) outcome.signal = WTERMSIG(status);
  } catch (const std::exception& e) {  // a pipe or a fork refused (out of descriptors, memory)
    outcome.error = e.what();
  }
  outcome.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return outcome;
}

HookRunner::HookRunner(std::vector<HookConfig> hooks, size_t max_queue)
    : hooks_(std::move(hooks)), max_queue_(max_queue) {
  if (!hooks_.empty()) thread_ = std::thread([this] { Work(); });
}

HookRunner::~HookRunner() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    stopping_ = true;
    if (!queue_.empty()) {
      spdlog::warn("hooks: {} events not run (the daemon stops)", queue_.size());
      queue_.clear();
    }
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HookRunner::Post(HookEvent event) {
  if (hooks_.empty()) return;
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= max_queue_) {
      spdlog::warn("hooks: {} events wait already; not running the hooks for {} {}", queue_.size(),
                   event.on, event.what);
      ++failures_;
      return;
    }
    queue_.push_back(std::move(event));
  }
  wake_.notify_one();
}

uint64_t HookRunner::runs() const {
  std::lock_guard lock(mutex_);
  return runs_;
}

uint64_t HookRunner::failures() const {
  std::lock_guard lock(mutex_);
  return failures_;
}

void HookRunner::Drain() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return queue_.empty() && !busy_; });
}

void HookRunner::Work() {
  for (;;) {
    HookEvent event;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_) break;
      event = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    for (const HookConfig& hook : hooks_) {
      if (hook.on != event.on) continue;
      if (stopping_.load()) break;
      HookOutcome o = RunHook(hook, event, &stopping_);
      bool failed = !o.started || o.timed_out || o.cancelled || o.exit_code != 0;
      const std::string dropped =
          o.dropped > 0 ? fmt::format(" ({} more bytes of output dropped)", o.dropped) : "";
      if (!o.started) {
        spdlog::warn("hook {} for {} {} did not start: {}", Describe(hook), event.on, event.what,
                     o.error);
      } else if (o.cancelled) {
        spdlog::warn("hook {} for {} {} killed: the daemon stops", Describe(hook), event.on,
                     event.what);
      } else if (o.timed_out) {
        spdlog::warn("hook {} for {} {} killed after its timeout of {} s; output: {}{}",
                     Describe(hook), event.on, event.what, hook.timeout.count(),
                     FirstLine(o.output), dropped);
      } else if (o.signal != 0) {
        spdlog::warn("hook {} for {} {} ended by signal {} in {:.2f} s; output: {}{}",
                     Describe(hook), event.on, event.what, o.signal, o.seconds,
                     FirstLine(o.output), dropped);
      } else if (o.exit_code != 0) {
        spdlog::warn("hook {} for {} {} exited with {} in {:.2f} s; output: {}{}", Describe(hook),
                     event.on, event.what, o.exit_code, o.seconds, FirstLine(o.output), dropped);
      } else {
        spdlog::info("hook {} for {} {} done in {:.2f} s; output: {}{}", Describe(hook), event.on,
                     event.what, o.seconds, FirstLine(o.output), dropped);
      }
      std::lock_guard lock(mutex_);
      ++runs_;
      failures_ += failed;
    }
    {
      std::lock_guard lock(mutex_);
      busy_ = false;
      if (queue_.empty()) idle_.notify_all();
    }
  }
  std::lock_guard lock(mutex_);
  busy_ = false;
  idle_.notify_all();
}

}  // namespace flatcast::subscriber

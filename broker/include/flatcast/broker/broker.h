// The broker: one ROUTER socket that publishers, auditors and terminals all
// connect to (one connection per peer), a Store, and the registry.
//
// Publish: validate, assign sequence and id, store synced, answer with a
// receipt, then send the directive to every connected addressed unit. Hello:
// register the connection as that unit and send it every addressed directive
// it has not acknowledged. Ack: collected over one pass of the event loop and
// stored in one synced batch (group commit) before each is confirmed.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include <zmq.hpp>

#include "flatcast/broker/config.h"
#include "flatcast/broker/store.h"
#include "flatcast/clock.h"
#include "flatcast/registry.h"
#include "flatcast/status.h"

namespace flatcast::broker {

// How Serve ended.
enum class BrokerExit {
  kStopped,   // `stop` was set
  kRejoin,    // a pair's leader lost its leadership: start again, as a standby
  kCopyAnew,  // a standby's store departs from its leader's: move it aside
              // (MoveDataDirAside) and start again with an empty one
};

// A broker pair's data directory belongs to one broker: the first start
// writes `name` into it; a start under another name is refused (the other
// broker's directory, or a copy of it, would split one history in two).
Status ClaimDataDir(const std::string& data_dir, const std::string& name);
// Renames `data_dir` to "<data_dir>.diverged-<UTC time>"; returns the new name.
Result<std::string> MoveDataDirAside(const std::string& data_dir);

class AdminSurface;

class Broker {
 public:
  // `registry`, `store`, `clock` and `admin` must outlive the broker.
  // `admin` (may be null): where it counts what happens and reports its
  // health (admin.h); it outlives a broker that starts again.
  Broker(const BrokerConfig& config, const Registry& registry, Store& store, const Clock& clock,
         zmq::context_t& ctx, AdminSurface* admin = nullptr);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Loads the in-memory view of stored directives and acknowledgements, binds
  // the socket and writes the endpoint file if configured.
  Status Start();
  // The endpoint actually bound (with the port chosen for "*").
  const std::string& endpoint() const;
  // Serves until `stop` becomes true (checked at least every 100 ms), or
  // until a pair's broker must start again (BrokerExit).
  Result<BrokerExit> Serve(const std::atomic<bool>& stop);
  // Serve, for a single broker: any exit but kStopped is an error.
  Status Run(const std::atomic<bool>& stop);
  // Handles whatever is waiting, for at most `timeout`; for tests.
  Status PollOnce(std::chrono::milliseconds timeout);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flatcast::broker

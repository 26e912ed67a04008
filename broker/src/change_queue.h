// Directive changes one at a time. A publish, a lifecycle change, a public
// release and a passed deadline each decide from the state the previous one
// left (the next sequence number, the daily counters, the public record),
// commit, and only once that commit has completed does the next one start.
// Acknowledgements and ratings change no directive and do not wait here.
#pragma once

#include <deque>
#include <functional>

namespace flatcast::broker {

class ChangeQueue {
 public:
  // A change calls `finished` once, when it is done (at once when it was
  // refused, or from its commit's callback).
  using Finished = std::function<void()>;
  using Change = std::function<void(Finished finished)>;

  // Runs `change` now when no change is in progress, else after those before it.
  void Submit(Change change);
  bool busy() const { return busy_; }
  size_t waiting() const { return waiting_.size(); }

 private:
  void Pump();

  std::deque<Change> waiting_;
  bool busy_ = false;
  bool pumping_ = false;
};

}  // namespace flatcast::broker

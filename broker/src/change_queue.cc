#include "change_queue.h"

namespace flatcast::broker {

void ChangeQueue::Submit(Change change) {
  waiting_.push_back(std::move(change));
  Pump();
}

void ChangeQueue::Pump() {
  // A change that finishes at once would otherwise start the next one from
  // inside its own call, one stack frame deeper each time.
  if (pumping_) return;
  pumping_ = true;
  while (!busy_ && !waiting_.empty()) {
    Change change = std::move(waiting_.front());
    waiting_.pop_front();
    busy_ = true;
    change([this] {
      busy_ = false;
      Pump();
    });
  }
  pumping_ = false;
}

}  // namespace flatcast::broker

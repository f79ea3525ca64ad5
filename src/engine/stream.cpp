// Stream: the event queue between the engine thread (producer) and one caller (consumer).
#include "dari/engine/serving.h"

namespace dari {

bool Stream::poll(std::vector<StreamEvent>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  const bool had = !events_.empty();
  while (!events_.empty()) {
    out->push_back(std::move(events_.front()));
    events_.pop_front();
  }
  return had || !finished_;
}

bool Stream::wait(std::chrono::milliseconds timeout, std::vector<StreamEvent>* out) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [this] { return !events_.empty() || finished_; });
  const bool had = !events_.empty();
  while (!events_.empty()) {
    out->push_back(std::move(events_.front()));
    events_.pop_front();
  }
  return had || !finished_;
}

void Stream::set_notify(std::function<void()> fn) {
  std::function<void()> call;
  {
    std::lock_guard<std::mutex> lock(mu_);
    notify_ = std::move(fn);
    if (notify_ && (!events_.empty() || finished_)) call = notify_;
  }
  if (call) call();
}

bool Stream::finished() const {
  std::lock_guard<std::mutex> lock(mu_);
  return finished_;
}

void Stream::push(StreamEvent ev) {
  std::function<void()> call;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return;
    events_.push_back(std::move(ev));
    call = notify_;
  }
  cv_.notify_all();
  if (call) call();
}

void Stream::finish() {
  std::function<void()> call;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return;
    finished_ = true;
    call = notify_;
  }
  cv_.notify_all();
  if (call) call();
}

}  // namespace dari

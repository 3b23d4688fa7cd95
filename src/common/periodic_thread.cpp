#include "flashsale/periodic_thread.hpp"

#include <utility>

namespace flashsale {

PeriodicThread::PeriodicThread(std::function<void(const PeriodicThread&)> round,
                               std::function<std::chrono::milliseconds()> pause)
    : round_(std::move(round)), pause_(std::move(pause)), thread_([this] { run(); }) {}

PeriodicThread::~PeriodicThread() {
  stop();
}

void PeriodicThread::stop() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  const std::lock_guard<std::mutex> lock(join_mutex_);
  if (thread_.joinable()) {
    thread_.join();
  }
}

bool PeriodicThread::stop_requested() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return stopping_;
}

void PeriodicThread::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    round_(*this);
    const auto pause = pause_();
    lock.lock();
    wake_.wait_for(lock, pause, [this] { return stopping_; });
  }
}

}  // namespace flashsale

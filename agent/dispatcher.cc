#include "agent/dispatcher.h"

#include <thread>

namespace boxd::agent {

Dispatcher::Dispatcher(uv_loop_t* loop) : loop_(loop) {
  uv_async_init(loop_, &async_, &Dispatcher::onAsync);
  async_.data = this;
}

Dispatcher::~Dispatcher() { close(); }

void Dispatcher::close() {
  if (closed_) return;
  closed_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
}

void Dispatcher::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(fn));
  }
  uv_async_send(&async_);
}

void Dispatcher::runBlocking(std::function<void()> work, std::function<void()> done) {
  ++inFlight_;
  std::thread([this, work = std::move(work), done = std::move(done)]() mutable {
    work();
    post([this, done = std::move(done)]() {
      --inFlight_;
      done();
    });
  }).detach();
}

void Dispatcher::onAsync(uv_async_t* h) {
  auto* self = static_cast<Dispatcher*>(h->data);
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    batch.swap(self->queue_);
  }
  for (auto& fn : batch) fn();
}

Timer::Timer(uv_loop_t* loop) : t_(new uv_timer_t) {
  uv_timer_init(loop, t_);
  t_->data = this;
}

Timer::~Timer() {
  uv_timer_stop(t_);
  t_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(t_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

void Timer::start(uint64_t delayMs, std::function<void()> fn, uint64_t repeatMs) {
  fn_ = std::make_shared<std::function<void()>>(std::move(fn));
  uv_timer_start(t_, &Timer::onTimer, delayMs, repeatMs);
}

void Timer::stop() { uv_timer_stop(t_); }

bool Timer::active() const { return uv_is_active(reinterpret_cast<uv_handle_t*>(t_)) != 0; }

void Timer::onTimer(uv_timer_t* t) {
  auto* self = static_cast<Timer*>(t->data);
  if (self != nullptr && self->fn_ && *self->fn_) {
    std::shared_ptr<std::function<void()>> fn = self->fn_;  // the callback may destroy this timer
    (*fn)();
  }
}

}  // namespace boxd::agent

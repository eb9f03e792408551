#include "agent/dispatcher.h"

#include <thread>

namespace boxd::agent {

Dispatcher::Dispatcher(uv_loop_t* loop)
    : loop_(loop), async_(new uv_async_t), inbox_(std::make_shared<Inbox>()) {
  uv_async_init(loop_, async_, &Dispatcher::onAsync);
  async_->data = inbox_.get();  // no callback comes after uv_close: the Inbox outlives them all
  inbox_->async = async_;
}

Dispatcher::~Dispatcher() { close(); }

void Dispatcher::close() {
  if (closed_) return;
  closed_ = true;
  std::vector<std::function<void()>> dropped;
  {
    std::lock_guard<std::mutex> lock(inbox_->mu);
    inbox_->async = nullptr;
    dropped.swap(inbox_->queue);  // released here, on the loop thread
  }
  uv_close(reinterpret_cast<uv_handle_t*>(async_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
}

void Dispatcher::post(std::function<void()> fn) { postTo(*inbox_, std::move(fn)); }

void Dispatcher::postTo(Inbox& inbox, std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(inbox.mu);
  if (inbox.async == nullptr) return;  // closed: nothing runs the loop's side any more
  inbox.queue.push_back(std::move(fn));
  uv_async_send(inbox.async);
}

void Dispatcher::runBlocking(std::function<void()> work, std::function<void()> done) {
  ++inFlight_;
  // The thread holds the Inbox, not this: done runs only while the Dispatcher is open.
  std::thread([inbox = inbox_, work = std::move(work),
               complete = std::function<void()>([this, done = std::move(done)] {
                 --inFlight_;
                 done();
               })]() mutable {
    work();
    postTo(*inbox, std::move(complete));
  }).detach();
}

void Dispatcher::onAsync(uv_async_t* h) {
  auto* inbox = static_cast<Inbox*>(h->data);
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(inbox->mu);
    batch.swap(inbox->queue);
  }
  for (auto& fn : batch) fn();
}

Timer::Timer(uv_loop_t* loop) : t_(new uv_timer_t) {
  uv_timer_init(loop, t_);
  t_->data = this;
}

Timer::Timer(uv_loop_t* loop, std::function<void()> fn) : Timer(loop) {
  fn_ = std::make_shared<std::function<void()>>(std::move(fn));
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

void Timer::restart(uint64_t delayMs) { uv_timer_start(t_, &Timer::onTimer, delayMs, 0); }

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

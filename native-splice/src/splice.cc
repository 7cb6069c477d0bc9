// native-splice: moves exactly N bytes from a socket to a socket or a regular file through a pipe
// with splice(2) (DESIGN.md §7). One epoll thread per Node environment drives every transfer and
// reports each completion through a ThreadSafeFunction, so slow clients never hold libuv pool
// threads (BENCH.md, "Pitfalls found with splice under Node's HTTP server", items 4 and 5).
//
// Owns: its dup()ed fds and pipes. Must not touch: the fds Node passed in (they may be closed and
// reused at any time), the flags of the shared file descriptions, and the libuv thread pool.

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include <napi.h>

namespace {

// Mirrored in index.js, which turns them into Error objects.
enum class Outcome : int32_t {
  kOk = 0,
  kErrno = 1,
  kPrematureEof = 2,
  kCancelled = 3,
  kIdleTimeout = 4,
  kUnsupportedFd = 5,
};

enum class Side : int32_t { kNone = 0, kIn = 1, kOut = 2 };

constexpr int64_t kNoDeadline = std::numeric_limits<int64_t>::max();
constexpr size_t kDefaultPipeCapacity = 65536;
constexpr int kMaxEvents = 64;
// Bytes one transfer may move before the thread turns to the others: a fast pair of sockets
// would otherwise keep Step() busy for a whole 1 GiB body while small uploads wait.
constexpr uint64_t kStepBudget = 4 * 1024 * 1024;

int64_t NowMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void CloseFd(int* fd) {
  if (*fd >= 0) {
    // Linux releases the descriptor even when close() reports EINTR, so never retry.
    close(*fd);
    *fd = -1;
  }
}

struct Completion {
  uint64_t id;
  Outcome outcome;
  int err;
  Side side;
  uint64_t moved;
};

// Everything one transfer owns. Built on the JS thread, then owned by the epoll thread alone.
struct Transfer {
  uint64_t id = 0;
  int in_fd = -1;
  int out_fd = -1;
  int pipe_r = -1;
  int pipe_w = -1;
  bool out_is_file = false;
  uint64_t length = 0;
  uint64_t bytes_in = 0;   // moved in -> pipe
  uint64_t bytes_out = 0;  // moved pipe -> out (reached outFd)
  size_t pipe_capacity = kDefaultPipeCapacity;
  int64_t idle_ms = 0;
  int64_t last_progress_ms = 0;
  bool eof = false;
  bool in_registered = false;
  bool out_registered = false;
  // A failure found while setting up on the JS thread; reported later, never synchronously.
  Outcome setup_outcome = Outcome::kOk;
  int setup_err = 0;
  Side setup_side = Side::kNone;

  ~Transfer() {
    CloseFd(&in_fd);
    CloseFd(&out_fd);
    CloseFd(&pipe_r);
    CloseFd(&pipe_w);
  }
};

using Deliver = void (*)(void* context, Completion* completion);

// The epoll thread and its queues. Submit() and Cancel() may be called from any thread.
class Engine {
 public:
  Engine(Deliver deliver, void* context) : deliver_(deliver), context_(context) {}
  ~Engine() { Stop(); }
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Returns 0, or the errno that prevented the thread from starting.
  int Start() {
    if (started_) return 0;
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) return errno;
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) {
      int err = errno;
      CloseFd(&epoll_fd_);
      return err;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = 0;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) {
      int err = errno;
      CloseFd(&wake_fd_);
      CloseFd(&epoll_fd_);
      return err;
    }
    // Process-directed signals (SIGINT, SIGCHLD, ...) belong to Node's threads, and a SIGPIPE
    // raised by splice() to a reset socket must not reach a default handler.
    sigset_t all;
    sigset_t previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    int err = pthread_create(&thread_, nullptr, &Engine::ThreadMain, this);
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    if (err != 0) {
      CloseFd(&wake_fd_);
      CloseFd(&epoll_fd_);
      return err;
    }
    started_ = true;
    running_.store(true);
    return 0;
  }

  bool running() const { return running_.load(); }

  void Submit(std::unique_ptr<Transfer> transfer) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      additions_.push_back(std::move(transfer));
    }
    Wake();
  }

  void Cancel(uint64_t id) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      cancellations_.push_back(id);
    }
    Wake();
  }

  // Joins the thread; transfers still running are closed without a completion.
  void Stop() {
    if (!started_) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    Wake();
    pthread_join(thread_, nullptr);
    started_ = false;
    running_.store(false);
    CloseFd(&wake_fd_);
    CloseFd(&epoll_fd_);
  }

 private:
  static void* ThreadMain(void* self) {
    static_cast<Engine*>(self)->Loop();
    return nullptr;
  }

  void Wake() {
    uint64_t one = 1;
    while (write(wake_fd_, &one, sizeof one) < 0 && errno == EINTR) {
    }
  }

  void Loop() {
    epoll_event events[kMaxEvents];
    for (;;) {
      int timeout = -1;
      if (!ready_.empty()) {
        timeout = 0;
      } else if (next_deadline_ != kNoDeadline) {
        int64_t wait = next_deadline_ - NowMs();
        timeout = wait <= 0 ? 0 : static_cast<int>(std::min<int64_t>(wait, 1 << 30));
      }
      int count = epoll_wait(epoll_fd_, events, kMaxEvents, timeout);
      if (count < 0) {
        if (errno == EINTR) continue;
        // Cannot happen with a valid epoll fd. Fail what runs, keep serving the queues (new
        // transfers then fail at EPOLL_CTL_ADD), and do not spin.
        FailAll(errno);
        usleep(100 * 1000);
        if (!DrainControl()) break;
        continue;
      }
      bool woken = false;
      for (int i = 0; i < count; ++i) {
        uint64_t key = events[i].data.u64;
        if (key == 0) {
          woken = true;
          continue;
        }
        auto found = live_.find(key >> 1);
        if (found == live_.end()) continue;  // finished earlier in this batch
        Transfer* transfer = found->second.get();
        bool out_side = (key & 1) != 0;
        if (out_side && (events[i].events & (EPOLLERR | EPOLLHUP)) != 0) {
          // The destination can no longer accept bytes; waiting for input would only delay
          // the report until the idle timeout.
          Finish(transfer, Outcome::kErrno, PendingError(transfer->out_fd), Side::kOut);
          continue;
        }
        Step(transfer);
      }
      if (!ready_.empty()) {
        std::vector<uint64_t> ready;
        ready.swap(ready_);
        for (uint64_t id : ready) {
          auto found = live_.find(id);
          if (found != live_.end()) Step(found->second.get());
        }
      }
      if (woken) {
        uint64_t value;
        while (read(wake_fd_, &value, sizeof value) < 0 && errno == EINTR) {
        }
        if (!DrainControl()) break;
      }
      if (next_deadline_ != kNoDeadline && NowMs() >= next_deadline_) CheckIdle();
    }
    // Stopping with the environment: close everything, report nothing.
    for (auto& entry : live_) Unregister(entry.second.get());
    live_.clear();
    running_.store(false);
  }

  // Returns false when the thread must stop.
  bool DrainControl() {
    std::vector<std::unique_ptr<Transfer>> additions;
    std::vector<uint64_t> cancellations;
    bool stopping;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      additions.swap(additions_);
      cancellations.swap(cancellations_);
      stopping = stopping_;
    }
    if (stopping) return false;  // additions are closed by their destructors
    for (auto& transfer : additions) {
      // Cancelled before it started: take no byte from the input.
      bool cancelled = std::find(cancellations.begin(), cancellations.end(), transfer->id) !=
                       cancellations.end();
      Admit(std::move(transfer), cancelled);
    }
    for (uint64_t id : cancellations) {
      auto found = live_.find(id);
      if (found != live_.end()) Finish(found->second.get(), Outcome::kCancelled, 0, Side::kNone);
    }
    return true;
  }

  void Admit(std::unique_ptr<Transfer> owned, bool cancelled) {
    Transfer* transfer = owned.get();
    live_.emplace(transfer->id, std::move(owned));
    if (transfer->setup_outcome != Outcome::kOk) {
      Finish(transfer, transfer->setup_outcome, transfer->setup_err, transfer->setup_side);
      return;
    }
    if (cancelled) {
      Finish(transfer, Outcome::kCancelled, 0, Side::kNone);
      return;
    }
    if (transfer->length == 0) {
      Finish(transfer, Outcome::kOk, 0, Side::kNone);
      return;
    }
    // Edge-triggered: Step() always runs until an operation reports EAGAIN, so every wait
    // ends with a fresh edge (see Step).
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = transfer->id << 1;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, transfer->in_fd, &ev) != 0) {
      Finish(transfer, Outcome::kErrno, errno, Side::kIn);
      return;
    }
    transfer->in_registered = true;
    if (!transfer->out_is_file) {
      ev.events = EPOLLOUT | EPOLLET;
      ev.data.u64 = (transfer->id << 1) | 1;
      if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, transfer->out_fd, &ev) != 0) {
        Finish(transfer, Outcome::kErrno, errno, Side::kOut);
        return;
      }
      transfer->out_registered = true;
    }
    transfer->last_progress_ms = NowMs();
    if (transfer->idle_ms > 0) {
      next_deadline_ = std::min(next_deadline_, transfer->last_progress_ms + transfer->idle_ms);
    }
    Step(transfer);
  }

  // Moves bytes until both directions would block, the transfer ends, it fails, or it used its
  // budget. On return either the pipe is empty and the input reported EAGAIN (an EPOLLIN edge
  // follows), or the output reported EAGAIN (an EPOLLOUT edge follows), or the transfer is in
  // ready_ (stepped again after the others), or it is gone.
  void Step(Transfer* t) {
    uint64_t moved = 0;
    for (;;) {
      bool progressed = false;
      uint64_t in_pipe = t->bytes_in - t->bytes_out;
      if (in_pipe > 0) {
        unsigned flags = SPLICE_F_MOVE | (t->out_is_file ? 0 : SPLICE_F_NONBLOCK);
        ssize_t n = splice(t->pipe_r, nullptr, t->out_fd, nullptr, in_pipe, flags);
        if (n > 0) {
          t->bytes_out += static_cast<uint64_t>(n);
          moved += static_cast<uint64_t>(n);
          t->last_progress_ms = NowMs();
          progressed = true;
        } else if (n == 0) {
          // A regular file that takes nothing (or a socket that accepts nothing) would loop
          // forever; report it like a failed write.
          Finish(t, Outcome::kErrno, EIO, Side::kOut);
          return;
        } else if (errno == EINTR) {
          continue;
        } else if (errno != EAGAIN) {
          Finish(t, Outcome::kErrno, errno, Side::kOut);
          return;
        }
      }
      if (t->bytes_out == t->length) {
        Finish(t, Outcome::kOk, 0, Side::kNone);
        return;
      }
      in_pipe = t->bytes_in - t->bytes_out;
      if (!t->eof && t->bytes_in < t->length && in_pipe < t->pipe_capacity) {
        // Never ask for more than the body: the next request on a keep-alive connection
        // follows it in the same socket.
        uint64_t want = std::min<uint64_t>(t->length - t->bytes_in, t->pipe_capacity - in_pipe);
        ssize_t n = splice(t->in_fd, nullptr, t->pipe_w, nullptr, static_cast<size_t>(want),
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
          t->bytes_in += static_cast<uint64_t>(n);
          moved += static_cast<uint64_t>(n);
          t->last_progress_ms = NowMs();
          progressed = true;
        } else if (n == 0) {
          t->eof = true;
          progressed = true;
        } else if (errno == EINTR) {
          continue;
        } else if (errno != EAGAIN) {
          Finish(t, Outcome::kErrno, errno, Side::kIn);
          return;
        }
      }
      if (t->eof && t->bytes_in == t->bytes_out) {
        Finish(t, Outcome::kPrematureEof, 0, Side::kIn);
        return;
      }
      if (!progressed) return;
      if (moved >= kStepBudget) {
        ready_.push_back(t->id);
        return;
      }
    }
  }

  void CheckIdle() {
    int64_t now = NowMs();
    int64_t next = kNoDeadline;
    std::vector<Transfer*> expired;
    for (auto& entry : live_) {
      Transfer* t = entry.second.get();
      if (t->idle_ms <= 0) continue;
      int64_t deadline = t->last_progress_ms + t->idle_ms;
      if (deadline <= now) {
        expired.push_back(t);
      } else {
        next = std::min(next, deadline);
      }
    }
    next_deadline_ = next;
    // Bytes waiting in the pipe mean the output stopped taking them; an empty pipe means the
    // input stopped sending.
    for (Transfer* t : expired) {
      Finish(t, Outcome::kIdleTimeout, 0, t->bytes_in > t->bytes_out ? Side::kOut : Side::kIn);
    }
  }

  void FailAll(int err) {
    std::vector<Transfer*> all;
    for (auto& entry : live_) all.push_back(entry.second.get());
    for (Transfer* t : all) Finish(t, Outcome::kErrno, err, Side::kNone);
  }

  static int PendingError(int fd) {
    int err = 0;
    socklen_t size = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &size) != 0 || err == 0) return EPIPE;
    return err;
  }

  // Removes the dups from the epoll set before they are closed: Node still holds the original
  // descriptors, so closing a dup alone would leave the registration (and its events) behind.
  void Unregister(Transfer* t) {
    if (t->in_registered) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, t->in_fd, nullptr);
    if (t->out_registered) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, t->out_fd, nullptr);
    t->in_registered = false;
    t->out_registered = false;
  }

  // Ends a transfer exactly once: unregister, close its fds, report. `t` is gone afterwards.
  void Finish(Transfer* t, Outcome outcome, int err, Side side) {
    Unregister(t);
    auto* completion = new Completion{t->id, outcome, err, side, t->bytes_out};
    live_.erase(t->id);  // the destructor closes the dups and the pipe
    deliver_(context_, completion);
  }

  Deliver deliver_;
  void* context_;
  bool started_ = false;  // JS thread only
  std::atomic<bool> running_{false};
  pthread_t thread_{};
  int epoll_fd_ = -1;
  int wake_fd_ = -1;

  std::mutex mutex_;  // guards the three fields below
  std::vector<std::unique_ptr<Transfer>> additions_;
  std::vector<uint64_t> cancellations_;
  bool stopping_ = false;

  // Epoll thread only.
  std::unordered_map<uint64_t, std::unique_ptr<Transfer>> live_;
  std::vector<uint64_t> ready_;  // yielded with bytes still flowing; no edge will come for them
  int64_t next_deadline_ = kNoDeadline;
};

class SpliceAddon;
void CallJs(Napi::Env env, Napi::Function unused, SpliceAddon* self, Completion* completion);
using CompletionFunction = Napi::TypedThreadSafeFunction<SpliceAddon, Completion, CallJs>;

// One instance per Node environment (main thread or worker), created by require().
class SpliceAddon : public Napi::Addon<SpliceAddon> {
 public:
  SpliceAddon(Napi::Env env, Napi::Object exports) : engine_(&SpliceAddon::Post, this) {
    DefineAddon(exports, {
                             InstanceMethod("start", &SpliceAddon::Start),
                             InstanceMethod("cancel", &SpliceAddon::Cancel),
                             InstanceMethod("stats", &SpliceAddon::Stats),
                         });
    (void)env;
  }

  ~SpliceAddon() {
    if (hook_registered_) {
      napi_remove_env_cleanup_hook(env_, &SpliceAddon::Cleanup, this);
      Shutdown();
    }
  }

 private:
  friend void CallJs(Napi::Env, Napi::Function, SpliceAddon*, Completion*);

  // start(inFd, outFd, length, pipeSize, idleTimeoutMs, callback) -> id
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 6 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber() ||
        !info[3].IsNumber() || !info[4].IsNumber() || !info[5].IsFunction()) {
      Napi::TypeError::New(env, "start(inFd, outFd, length, pipeSize, idleTimeoutMs, callback)")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (!EnsureRunning(env)) return env.Undefined();

    auto transfer = std::make_unique<Transfer>();
    transfer->id = next_id_++;
    transfer->length = static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value());
    transfer->idle_ms = info[4].As<Napi::Number>().Int64Value();
    Prepare(transfer.get(), info[0].As<Napi::Number>().Int32Value(),
            info[1].As<Napi::Number>().Int32Value(), info[3].As<Napi::Number>().Int64Value());

    uint64_t id = transfer->id;
    callbacks_.emplace(id, Napi::Persistent(info[5].As<Napi::Function>()));
    if (Active() == 0) completions_.Ref(env);  // an active transfer keeps the process alive
    ++started_;
    engine_.Submit(std::move(transfer));
    return Napi::Number::New(env, static_cast<double>(id));
  }

  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    if (info.Length() > 0 && info[0].IsNumber() && engine_.running()) {
      engine_.Cancel(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()));
    }
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object stats = Napi::Object::New(env);
    stats.Set("active", Napi::Number::New(env, static_cast<double>(Active())));
    stats.Set("started", Napi::Number::New(env, static_cast<double>(started_)));
    stats.Set("completed", Napi::Number::New(env, static_cast<double>(completed_)));
    stats.Set("failed", Napi::Number::New(env, static_cast<double>(failed_)));
    stats.Set("threadRunning", Napi::Boolean::New(env, engine_.running()));
    return stats;
  }

  // Dups the caller's fds and creates the pipe, on the JS thread, before Node can close or
  // reuse a descriptor number. Failures are recorded and reported asynchronously.
  static void Prepare(Transfer* t, int in_fd, int out_fd, int64_t pipe_size) {
    auto fail = [t](Outcome outcome, int err, Side side) {
      t->setup_outcome = outcome;
      t->setup_err = err;
      t->setup_side = side;
    };
    t->in_fd = fcntl(in_fd, F_DUPFD_CLOEXEC, 0);
    if (t->in_fd < 0) return fail(Outcome::kErrno, errno, Side::kIn);
    t->out_fd = fcntl(out_fd, F_DUPFD_CLOEXEC, 0);
    if (t->out_fd < 0) return fail(Outcome::kErrno, errno, Side::kOut);

    struct stat in_stat {};
    struct stat out_stat {};
    if (fstat(t->in_fd, &in_stat) != 0) return fail(Outcome::kErrno, errno, Side::kIn);
    if (fstat(t->out_fd, &out_stat) != 0) return fail(Outcome::kErrno, errno, Side::kOut);
    // A blocking socket would park the shared epoll thread inside splice(); the flags are
    // Node's (libuv sets O_NONBLOCK), so check them and never change them.
    if (!(S_ISFIFO(in_stat.st_mode) || (S_ISSOCK(in_stat.st_mode) && IsNonBlocking(t->in_fd)))) {
      return fail(Outcome::kUnsupportedFd, 0, Side::kIn);
    }
    if (S_ISREG(out_stat.st_mode)) {
      // splice(2) refuses O_APPEND targets with EINVAL; say so before any byte is taken.
      int flags = fcntl(t->out_fd, F_GETFL);
      if (flags < 0 || (flags & O_APPEND) != 0) return fail(Outcome::kUnsupportedFd, 0, Side::kOut);
      t->out_is_file = true;
    } else if (!(S_ISFIFO(out_stat.st_mode) ||
                 (S_ISSOCK(out_stat.st_mode) && IsNonBlocking(t->out_fd)))) {
      return fail(Outcome::kUnsupportedFd, 0, Side::kOut);
    }

    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return fail(Outcome::kErrno, errno, Side::kNone);
    t->pipe_r = fds[0];
    t->pipe_w = fds[1];
    if (pipe_size > 0) {
      // EPERM (over pipe-max-size or the per-user page budget) or EBUSY: keep the default size.
      fcntl(t->pipe_w, F_SETPIPE_SZ, static_cast<int>(std::min<int64_t>(pipe_size, 1 << 30)));
    }
    int capacity = fcntl(t->pipe_w, F_GETPIPE_SZ);
    t->pipe_capacity = capacity > 0 ? static_cast<size_t>(capacity) : kDefaultPipeCapacity;
  }

  static bool IsNonBlocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    return flags >= 0 && (flags & O_NONBLOCK) != 0;
  }

  bool EnsureRunning(Napi::Env env) {
    if (engine_.running()) return true;
    if (!hook_registered_) {
      completions_ = CompletionFunction::New(env, "native-splice", 0, 1, this);
      completions_.Unref(env);
      env_ = env;
      // Registered after the ThreadSafeFunction, so it runs before the function's own cleanup
      // (hooks run in reverse order): the thread is joined before the function goes away.
      napi_add_env_cleanup_hook(env, &SpliceAddon::Cleanup, this);
      hook_registered_ = true;
    }
    int err = engine_.Start();
    if (err != 0) {
      Napi::Error error = Napi::Error::New(env, std::string("native-splice: cannot start its "
                                                            "epoll thread: ") +
                                                    strerror(err));
      error.ThrowAsJavaScriptException();
      return false;
    }
    return true;
  }

  uint64_t Active() const { return started_ - completed_ - failed_; }

  static void Post(void* context, Completion* completion) {
    auto* self = static_cast<SpliceAddon*>(context);
    if (self->completions_.NonBlockingCall(completion) != napi_ok) delete completion;
  }

  static void Cleanup(void* arg) {
    auto* self = static_cast<SpliceAddon*>(arg);
    self->hook_registered_ = false;
    self->Shutdown();
  }

  void Shutdown() {
    engine_.Stop();
    completions_.Release();
  }

  Engine engine_;
  CompletionFunction completions_;
  napi_env env_ = nullptr;
  bool hook_registered_ = false;
  std::unordered_map<uint64_t, Napi::FunctionReference> callbacks_;
  uint64_t next_id_ = 1;
  uint64_t started_ = 0;
  uint64_t completed_ = 0;
  uint64_t failed_ = 0;
};

void CallJs(Napi::Env env, Napi::Function /*unused*/, SpliceAddon* self, Completion* completion) {
  std::unique_ptr<Completion> owned(completion);
  if (env == nullptr || self == nullptr) return;  // the environment is being torn down
  auto found = self->callbacks_.find(owned->id);
  if (found == self->callbacks_.end()) return;
  Napi::FunctionReference callback = std::move(found->second);
  self->callbacks_.erase(found);
  if (owned->outcome == Outcome::kOk) {
    ++self->completed_;
  } else {
    ++self->failed_;
  }
  // Idle: let the process exit; the thread itself never keeps the event loop alive.
  if (self->Active() == 0) self->completions_.Unref(env);
  // The plain C calls, because node-addon-api without C++ exceptions aborts the process when a
  // call fails and the failure cannot be thrown, which is what happens when a completion lands
  // while a worker's environment is being torn down. Exceptions thrown by `done` never get here:
  // index.js rethrows them from a tick, since Node only warns about them (DEP0168).
  napi_value argv[4];
  napi_value receiver;
  napi_value result;
  if (napi_create_int32(env, static_cast<int32_t>(owned->outcome), &argv[0]) != napi_ok ||
      napi_create_int32(env, owned->err, &argv[1]) != napi_ok ||
      napi_create_int32(env, static_cast<int32_t>(owned->side), &argv[2]) != napi_ok ||
      napi_create_double(env, static_cast<double>(owned->moved), &argv[3]) != napi_ok ||
      napi_get_undefined(env, &receiver) != napi_ok) {
    return;
  }
  napi_call_function(env, receiver, callback.Value(), 4, argv, &result);
}

}  // namespace

NODE_API_ADDON(SpliceAddon)

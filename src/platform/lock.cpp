#include "platform/lock.h"

#include <unistd.h>

#include <atomic>

#include "platform/build_config.h"
#include "heap/heap.h"
#include "platform/platform.h"

namespace concalloc::detail {

Mutex g_registry_lock;

namespace {

// LIFE-4: set by the prepare handler, cleared by the parent and child
// handlers. While it is set, the first lock taken by the forking thread in a
// process other than the parent (a child whose own handlers, registered
// before the library's, run first) renews the child's state.
std::atomic<bool> g_forking{false};
pthread_t g_forking_thread;
pid_t g_parent;
bool g_renewed;  // in the child, once

void RenewChild() noexcept {
  if (g_renewed) return;
  g_renewed = true;
  RegistryAfterForkInChild();
  DepotAfterForkInChild();
  HeapAfterForkInChild();
}

void PrepareFork() {
  g_forking_thread = pthread_self();
  g_parent = getpid();
  g_renewed = false;
  // MUT-1 fork_deadlock: the depot's locks held across the fork (the
  // forking thread then waits for itself in a fork handler that frees).
  if constexpr (kMutant == kMutantForkDeadlock) LockDepotForMutant(true);
  g_forking.store(true, std::memory_order_release);
}

void AfterForkInParent() {
  g_forking.store(false, std::memory_order_relaxed);
  if constexpr (kMutant == kMutantForkDeadlock) LockDepotForMutant(false);
}

void AfterForkChild() {
  RenewChild();
  g_forking.store(false, std::memory_order_relaxed);
}

// Registered once, at load (below) or, if an allocation comes first, at the
// first lock; never from a nested call (pthread_atfork may allocate).
std::atomic<bool> g_fork_handlers{false};
void RegisterForkHandlers() noexcept {
  if (!g_fork_handlers.load(std::memory_order_acquire) &&
      !g_fork_handlers.exchange(true, std::memory_order_acq_rel))
    pthread_atfork(&PrepareFork, &AfterForkInParent, &AfterForkChild);
}
__attribute__((constructor)) void RegisterAtLoad() { RegisterForkHandlers(); }

// While a fork is in progress: in the child, on the forking thread, before
// the library's own child handler, the child's state is renewed first.
CONCALLOC_COLD void DuringFork() noexcept {
  if (kMutant != kMutantForkDeadlock && pthread_equal(pthread_self(), g_forking_thread) &&
      getpid() != g_parent)
    RenewChild();
}

// Tries before sleeping: most holds are a few instructions long.
constexpr int kSpins = 64;

}  // namespace

void RenewInChild(Mutex& mutex) noexcept { mutex.m = PTHREAD_MUTEX_INITIALIZER; }

// What every lock does first (LIFE-4): the fork handlers registered, and in
// a fork child's forking thread, the child's state renewed.
void BeforeLock() noexcept {
  RegisterForkHandlers();
  if (CONCALLOC_UNLIKELY(g_forking.load(std::memory_order_acquire))) DuringFork();
}

Locked::Locked(Mutex& mutex, bool really, bool* contended) noexcept : held_(nullptr) {
  if (contended != nullptr) *contended = false;
  BeforeLock();
  if (!really) return;
  held_ = &mutex.m;
  if (pthread_mutex_trylock(held_) == 0) return;
  if (contended != nullptr) *contended = true;
  for (int i = 0; i < kSpins; ++i) {
    platform::CpuRelax();
    if (pthread_mutex_trylock(held_) == 0) return;
  }
  pthread_mutex_lock(held_);
}

namespace {
void AcquireWord(std::atomic<std::uint32_t>& w, bool* contended) noexcept {
  std::uint32_t seen = 0;
  if (CONCALLOC_LIKELY(w.compare_exchange_strong(seen, 1, std::memory_order_acquire,
                                                 std::memory_order_relaxed)))
    return;
  *contended = true;
  for (int i = 0; i < kSpins; ++i) {
    platform::CpuRelax();
    seen = 0;
    if (w.load(std::memory_order_relaxed) == 0 &&
        w.compare_exchange_weak(seen, 1, std::memory_order_acquire, std::memory_order_relaxed))
      return;
  }
  // Marked 2 (someone may sleep) for as long as this thread waits; it then
  // holds the lock marked 2, so its release wakes the next sleeper, if any.
  while (w.exchange(2, std::memory_order_acquire) != 0)
    platform::FutexWait(reinterpret_cast<const std::uint32_t*>(&w), 2);
}

void ReleaseWord(std::atomic<std::uint32_t>& w) noexcept {
  if (w.exchange(0, std::memory_order_release) == 2)
    platform::FutexWakeOne(reinterpret_cast<const std::uint32_t*>(&w));
}
}  // namespace

WordLocked::WordLocked(WordLock& lock, bool really, bool* contended) noexcept : held_(nullptr) {
  *contended = false;
  BeforeLock();
  if (!really) return;
  held_ = &lock;
  AcquireWord(lock.word, contended);
}

WordLocked::~WordLocked() {
  if (held_ != nullptr) ReleaseWord(held_->word);
}

void RenewInChild(WordLock& lock) noexcept { lock.word.store(0, std::memory_order_relaxed); }

void HoldForMutant(WordLock& lock, bool hold) noexcept {
  bool contended = false;
  if (hold)
    AcquireWord(lock.word, &contended);
  else
    ReleaseWord(lock.word);
}

Locked::~Locked() {
  if (held_ != nullptr) pthread_mutex_unlock(held_);
}

}  // namespace concalloc::detail

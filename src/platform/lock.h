// DEPOT-LOCK, LIFE-4, LIFE-6: the library's mutexes (the cache registry's
// and one per depot shard) and what fork() does to them.
//
// LIFE-4: no lock is held across fork(). The child renews its depot and its
// registry (below): every lock free; a depot shard whose lock another
// thread held at the fork starts empty (its batches stranded there, like
// the parent's other threads' caches), the others are kept; the registry
// holds the forking thread's cache alone. So whatever another
// thread of the parent held at the fork, the child holds nothing, and fork
// handlers may allocate and free in prepare, parent and child, registered
// before or after the library's, in any order: a child handler that runs
// before the library's own renews the child's state at its first lock.
// No operation holds two of these locks at once.
#ifndef CONCALLOC_SRC_LOCK_H
#define CONCALLOC_SRC_LOCK_H

#include <pthread.h>

#include <atomic>
#include <cstdint>

namespace concalloc::detail {

// A library mutex: a plain pthread mutex, all zero until first used, so that
// it needs no constructor and takes no file-backed page (.bss).
struct Mutex {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
};

extern Mutex g_registry_lock;

// DEPOT-LOCK: a depot shard's lock, one word, so that the shard's lock, its
// queue and its totals share one cache line (DEPOT-SHARD):
//   0 free, 1 held, 2 held and a thread may be asleep on it.
// Taking a free lock is one compare-and-swap (no try-then-lock pair);
// a held one is retried briefly, then slept on (a futex); releasing is one
// exchange, and a wake-up only when someone may sleep. All zero until used.
struct WordLock {
  std::atomic<std::uint32_t> word{0};
};
static_assert(sizeof(WordLock) == 4);

// Holds a WordLock for its scope unless `really` is false (MUT-1
// depot_no_lock); *contended says whether the first try found it held.
class WordLocked {
 public:
  WordLocked(WordLock& lock, bool really, bool* contended) noexcept;
  ~WordLocked();
  WordLocked(const WordLocked&) = delete;
  WordLocked& operator=(const WordLocked&) = delete;

 private:
  WordLock* held_;
};
// The fork child's renewal, and the fork_deadlock mutant's hold; whether a
// WordLock is held (in the child: held at the fork).
void RenewInChild(WordLock& lock) noexcept;
void HoldForMutant(WordLock& lock, bool hold) noexcept;
inline bool IsHeld(const WordLock& lock) noexcept {
  return lock.word.load(std::memory_order_relaxed) != 0;
}

// Takes the mutex unless `really` is false. A contended lock is retried
// briefly before the thread sleeps on it (as glibc's adaptive mutexes do);
// *contended, when given, says whether the first try found it held.
class Locked {
 public:
  explicit Locked(Mutex& mutex, bool really = true, bool* contended = nullptr) noexcept;
  ~Locked();
  Locked(const Locked&) = delete;
  Locked& operator=(const Locked&) = delete;

 private:
  pthread_mutex_t* held_;
};

// A mutex as it is before first use (the fork child's renewal).
void RenewInChild(Mutex& mutex) noexcept;

// LIFE-4, in the child of fork(), on its only thread, once: the depot's and
// the registry's renewal (depot.cpp, thread_cache.cpp).
void DepotAfterForkInChild() noexcept;
void RegistryAfterForkInChild() noexcept;
// MUT-1 fork_deadlock only: takes (true) or releases every depot lock.
void LockDepotForMutant(bool lock) noexcept;

}  // namespace concalloc::detail

#endif

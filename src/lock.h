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

namespace concalloc::detail {

// A library mutex: a plain pthread mutex, all zero until first used, so that
// it needs no constructor and takes no file-backed page (.bss).
struct Mutex {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
};

extern Mutex g_registry_lock;

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

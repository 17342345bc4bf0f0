// DEPOT-LOCK, LIFE-4, LIFE-6: the library's two mutexes (the depot's and the
// cache registry's) and what fork() does to them.
//
// LIFE-4: the forking thread holds both across fork() (pthread_atfork
// handlers, registered when the library is loaded), so that a child never
// inherits a lock held by a thread it does not have. Between the prepare
// handler and the parent or child handler that thread owns them: fork
// handlers that run in between on it (the user's, registered before or after
// the library's, in any order; glibc nests later registrations inside
// earlier ones) may allocate and free, and their lock operations on that
// thread pass straight through instead of deadlocking.
// Lock order: registry, then depot (only the prepare handler takes both).
#ifndef CONCALLOC_SRC_LOCK_H
#define CONCALLOC_SRC_LOCK_H

#include <pthread.h>

namespace concalloc::detail {

enum class LockId { kRegistry = 0, kDepot = 1 };

// Takes the lock unless the calling thread holds every lock for a fork.
class Locked {
 public:
  explicit Locked(LockId id, bool really = true) noexcept;
  ~Locked();
  Locked(const Locked&) = delete;
  Locked& operator=(const Locked&) = delete;

 private:
  pthread_mutex_t* held_;
};

// Called in the child of fork(), on its only thread, after the locks are
// free again (thread_cache.cpp: the forking thread keeps its cache, LIFE-6).
void AfterForkInChild() noexcept;

}  // namespace concalloc::detail

#endif

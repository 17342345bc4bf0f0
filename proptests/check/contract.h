// CHECK-*: the allocator contract as properties, for any allocator seen from
// outside (concalloc-check; spec/SPEC.md section 15). One source of truth:
// the project's own suite runs these same properties, through the same
// program, against concalloc's libraries and its peers.
#ifndef CONCALLOC_PROPTESTS_CHECK_CONTRACT_H
#define CONCALLOC_PROPTESTS_CHECK_CONTRACT_H

#include <cstddef>
#include <string>

namespace concalloc_check {

// The functions under test; a null member is absent, and the checks that
// need it are left out.
struct Api {
  std::string name;        // what the report calls it ("malloc", "concrt LIB")
  bool is_malloc = false;  // the C and POSIX malloc family: its rules apply
  bool errno_rules = true;  // POSIX's errno rules too (ENOMEM; free keeps errno)
  void* (*alloc)(std::size_t) = nullptr;
  void (*release)(void*) = nullptr;
  void* (*calloc)(std::size_t, std::size_t) = nullptr;
  void* (*realloc)(void*, std::size_t) = nullptr;
  void* (*reallocarray)(void*, std::size_t, std::size_t) = nullptr;
  void* (*aligned_alloc)(std::size_t, std::size_t) = nullptr;  // (alignment, size)
  int (*posix_memalign)(void**, std::size_t, std::size_t) = nullptr;
  void* (*memalign)(std::size_t, std::size_t) = nullptr;  // (alignment, size)
  void* (*alloc_aligned)(std::size_t, std::size_t) = nullptr;  // concrt: (size, alignment)
  std::size_t (*usable_size)(void*) = nullptr;
  void (*flush)() = nullptr;
};

// CHECK-SEQ: generated sequences of calls on one thread, checked against a
// model of the live blocks. Returns true when every case passed; a failure
// prints the rule it breaks and the shrunk sequence (RapidCheck's report).
bool CheckSequences(const Api& api);
// CHECK-CHURN: long runs (up to 20,000 calls, up to 2,000 blocks live) of
// malloc and free on one thread, each new block checked against every live
// one: finds bugs that fire once in hundreds of calls, at their cause.
bool CheckChurn(const Api& api);
// CHECK-LIMITS: impossible sizes fail with NULL and ENOMEM (EINVAL where
// POSIX says so), overflowing products included; nothing is lost on the way.
bool CheckLimits(const Api& api);
// CHECK-THREADS: generated multi-threaded scripts: blocks handed between
// threads with their contents, freed elsewhere, threads that exit holding
// nothing, and a fork() while the other threads allocate (the child must
// allocate and exit).
bool CheckThreads(const Api& api);
// CHECK-REUSE: blocks freed on another thread come back: a producer and a
// consumer move 256 MiB through 4 MiB of live blocks, and the resident set
// must not grow with what was moved.
bool CheckReuse(const Api& api);
// Whether CHECK-THREADS forks (off under ASan and TSan, whose allocators
// are not fork-safe while other threads are inside them).
void SetForkEnabled(bool on);
// CHECK-REPORT: how long a property may shrink after its first failure.
void SetShrinkSeconds(int seconds);

}  // namespace concalloc_check

#endif

// HARD-DOUBLE, HARD-LINK: the two first steps of heap exploitation, done to a
// process whose malloc is libconcalloc-malloc (preloaded, or linked first),
// or, built with PROBE_INLINE, through concalloc's inline forms (INLINE-1),
// whose hit paths are compiled into this program. A hardened release
// library stops each with its CHK-DIAG line and abort(); when the process
// gets past the attack, this prints "<clause>: not stopped: ..." and exits 1
// (what a build without the check does, e.g. a mutant or
// CONCALLOC_HARDENED=OFF).
//   hardening_probe double_free | double_free_other_thread | forged_link
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <unistd.h>

#ifdef PROBE_INLINE
#include <concalloc/concalloc.h>
#endif

namespace {

#ifdef PROBE_INLINE
__attribute__((noinline)) void* InlineMalloc(std::size_t n) { return concalloc::InlineAlloc(n); }
__attribute__((noinline)) void InlineFreeOf(void* p) { concalloc::InlineFree(p); }
#endif

// Through volatile pointers, so that the compiler sees no double free.
#ifdef PROBE_INLINE
void* (*volatile do_malloc)(std::size_t) = InlineMalloc;
void (*volatile do_free)(void*) = InlineFreeOf;
#else
void* (*volatile do_malloc)(std::size_t) = std::malloc;
void (*volatile do_free)(void*) = std::free;
#endif

const char* g_clause = "";

// A forged link that the allocator follows without checking points where the
// attacker chose, or (keyed, unchecked) at garbage: then the next malloc
// faults. Either way the attack was not stopped.
void OnFault(int) {
  char line[128];
  const int n = std::snprintf(line, sizeof line,
                              "%s: not stopped: the allocator followed a forged link and faulted\n",
                              g_clause);
  if (n > 0) (void)!write(2, line, static_cast<std::size_t>(n));
  _exit(1);
}

int NotStopped(const char* what) {
  std::fprintf(stderr, "%s: not stopped: %s\n", g_clause, what);
  return 1;
}

int DoubleFree(bool other_thread) {
  g_clause = "HARD-DOUBLE";
  void* p = do_malloc(48);
  do_free(p);
  if (other_thread)
    std::thread([p] { do_free(p); }).join();
  else
    do_free(p);
  void* a = do_malloc(48);
  void* b = do_malloc(48);
  return NotStopped(a == b ? "the next two mallocs returned the same block"
                           : "the second free was ignored");
}

alignas(64) unsigned char g_target[128];

int ForgedLink() {
  g_clause = "HARD-LINK";
  void* p = do_malloc(48);
  void* q = do_malloc(48);
  do_free(p);
  do_free(q);  // the list: q, then p
  // The attacker's 8 bytes over q's link: in release builds a cached
  // block's link is its tag (HDR-1), the 8 bytes right below the pointer;
  // a plain address, as an attacker without the key writes it.
  void* forged = g_target + 32;
  std::uint64_t word = reinterpret_cast<std::uintptr_t>(forged);
  std::memcpy(static_cast<unsigned char*>(q) - 8, &word, sizeof word);
  void* first = do_malloc(48);
  void* second = do_malloc(48);
  if (second == forged) return NotStopped("malloc returned the forged address");
  char what[128];
  std::snprintf(what, sizeof what, "malloc returned %p, then %p", first, second);
  return NotStopped(what);
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGSEGV, OnFault);
  std::signal(SIGBUS, OnFault);
  const char* mode = argc > 1 ? argv[1] : "";
  if (std::strcmp(mode, "double_free") == 0) return DoubleFree(false);
  if (std::strcmp(mode, "double_free_other_thread") == 0) return DoubleFree(true);
  if (std::strcmp(mode, "forged_link") == 0) return ForgedLink();
  std::fprintf(stderr, "usage: hardening_probe double_free|double_free_other_thread|forged_link\n");
  return 2;
}

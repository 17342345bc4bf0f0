// For bench/ab-hardening: N Alloc+Free pairs of one block of SIZE bytes
// (compile-time, as a caller of the inline forms usually has it), through
// the inline forms (-DAB_INLINE=1) or the exported calls (-DAB_INLINE=0),
// timed over `rounds` rounds in one process; prints the best round's time
// per pair in ns. The same source is built against each library compared.
//   ab_pair N rounds
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <concalloc/concalloc.h>

namespace {
// Keeps the compiler from removing the pair (as bench/peer.h's Escape).
inline void Escape(void* p) { asm volatile("" : : "g"(p) : "memory"); }
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const long n = std::atol(argv[1]);
  const int rounds = std::atoi(argv[2]);
  double best = 1e300;
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < n; ++i) {
#if AB_INLINE
      void* p = concalloc::InlineAlloc(SIZE);
      Escape(p);
      concalloc::InlineFree(p);
#else
      void* p = concalloc::Alloc(SIZE);
      Escape(p);
      concalloc::Free(p);
#endif
    }
    const auto t1 = std::chrono::steady_clock::now();
    const double ns = std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(n);
    if (ns < best) best = ns;
  }
  std::printf("%.3f\n", best);
  return 0;
}

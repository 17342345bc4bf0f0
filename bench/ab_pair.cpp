// For bench/ab-hardening: N Alloc+Free pairs of one block of SIZE bytes
// (compile-time, as a caller of the inline forms usually has it), through
// the peer BENCH_PEER of peer.h (concalloc: the inline forms;
// concalloc-call: the exported calls), timed over `rounds` rounds in one
// process; prints the best round's time per pair in ns. The same source is
// built against each library compared (bench/pair_loop.cpp, for callgrind
// across peers, takes the size at run time instead).
//   ab_pair N rounds
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "peer.h"

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const long n = std::atol(argv[1]);
  const int rounds = std::atoi(argv[2]);
  double best = 1e300;
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < n; ++i) {
      void* p = PeerAlloc(SIZE);
      Escape(p);
      PeerFree(p);
    }
    const auto t1 = std::chrono::steady_clock::now();
    const double ns = std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(n);
    if (ns < best) best = ns;
  }
  std::printf("%.3f\n", best);
  return 0;
}

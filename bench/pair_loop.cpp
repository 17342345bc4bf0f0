// For instruction counts under callgrind: N Alloc+Free pairs of `size` bytes
// with the peer selected as in workloads.cpp. bench/run runs it twice (N and
// 2N) and divides the difference by N, so start-up costs cancel out.
//   pair_loop N size
#include <cstdlib>

#include "peer.h"

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const long n = std::atol(argv[1]);
  const std::size_t size = static_cast<std::size_t>(std::atol(argv[2]));
  for (long i = 0; i < n; ++i) {
    void* p = PeerAlloc(size);
    Escape(p);
    PeerFree(p);
  }
  return 0;
}

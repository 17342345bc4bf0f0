// Whole-program workload (issue #25): a C++ program whose live set is
// millions of small blocks of mixed sizes, run with each allocator preloaded
// (bench/programs-run). One thread builds a live set of `live` blocks
// (sizes drawn from a skewed mix: most 8..128 bytes, some to 512, a few to
// 4 KiB, as node-based containers and strings make), touches them, then
// replaces random blocks (free one, allocate another of a new size) for
// `steps` steps, walks the live set, and frees it all. Prints: seconds, peak
// RSS (KiB), RSS after the heap is freed (KiB).
//   mixheap [live] [steps]
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

std::uint64_t g_rng = 0x9E3779B97F4A7C15ull;
std::uint64_t Next() {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return g_rng;
}

std::size_t DrawSize() {
  const std::uint64_t r = Next();
  const unsigned pick = r & 1023;
  if (pick < 820) return 8 + (r >> 10) % 121;    // 80%: 8..128
  if (pick < 995) return 129 + (r >> 10) % 384;  // 17%: 129..512
  return 513 + (r >> 10) % 3584;                 // 0.5%: 513..4096
}

long RssKib() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

struct Slot {
  char* p;
  std::uint32_t size;
};

char* Make(std::size_t size) {
  char* p = static_cast<char*>(std::malloc(size));
  if (p == nullptr) std::abort();
  std::memset(p, static_cast<int>(size), size < 64 ? size : 64);
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t live = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2000000;
  const std::size_t steps = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 8000000;
  const auto start = std::chrono::steady_clock::now();
  std::vector<Slot> slots(live);
  for (auto& s : slots) {
    s.size = static_cast<std::uint32_t>(DrawSize());
    s.p = Make(s.size);
  }
  std::uint64_t sum = 0;
  for (std::size_t k = 0; k < steps; ++k) {
    Slot& s = slots[Next() % live];
    sum += static_cast<unsigned char>(s.p[0]);
    std::free(s.p);
    s.size = static_cast<std::uint32_t>(DrawSize());
    s.p = Make(s.size);
  }
  for (const auto& s : slots) sum += static_cast<unsigned char>(s.p[s.size - 1 < 63 ? s.size - 1 : 63]);
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  for (auto& s : slots) std::free(s.p);
  std::vector<Slot>().swap(slots);
  std::printf("%.3f %ld %ld\n", elapsed, ru.ru_maxrss, RssKib());
  return sum == 42 ? 1 : 0;
}

// libconcalloc-malloc (MALLOC-*): this whole test process, GoogleTest and
// libstdc++ included, allocates through it (the binary links it).
#include <gtest/gtest.h>

#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <concalloc/concalloc.h>

namespace {

bool Aligned(const void* p, std::size_t a) { return reinterpret_cast<std::uintptr_t>(p) % a == 0; }

// Keeps the compiler from removing a malloc/free pair it can see through.
void* Escape(void* p) {
  asm volatile("" : : "g"(p) : "memory");
  return p;
}

// Sizes no allocator can serve, out of the compiler's sight.
volatile std::size_t g_huge = SIZE_MAX - 100;

TEST(Malloc, IsConcallocInThisProcess) {
  const std::uint64_t hits = concalloc::GetThreadStats().alloc_hits;
  for (int i = 0; i < 100; ++i) std::free(Escape(std::malloc(48)));
  EXPECT_GT(concalloc::GetThreadStats().alloc_hits, hits) << "MALLOC-1: malloc is concalloc";
  const std::uint64_t hits2 = concalloc::GetThreadStats().alloc_hits;
  for (int i = 0; i < 10; ++i) delete static_cast<std::string*>(Escape(new std::string(100, 'x')));
  EXPECT_GT(concalloc::GetThreadStats().alloc_hits, hits2) << "MALLOC-NEW";
}

TEST(Malloc, CallocChecksOverflowAndZeroes) {
  for (int round = 0; round < 3; ++round) {
    auto* dirty = static_cast<unsigned char*>(Escape(std::malloc(200)));
    std::memset(dirty, 0xAB, 200);
    std::free(Escape(dirty));  // cached, not zero (kept from the optimiser)
    auto* p = static_cast<unsigned char*>(std::calloc(25, 8));
    ASSERT_NE(p, nullptr);
    for (int k = 0; k < 200; ++k) ASSERT_EQ(p[k], 0) << "MALLOC-CALLOC: zeroed";
    std::free(p);
  }
  errno = 0;
  EXPECT_EQ(std::calloc(g_huge / 2, 3), nullptr) << "MALLOC-CALLOC: overflow";
  EXPECT_EQ(errno, ENOMEM) << "MALLOC-CALLOC";
}

TEST(Malloc, ReallocCases) {
  auto* p = static_cast<char*>(std::realloc(nullptr, 100));
  ASSERT_NE(p, nullptr) << "MALLOC-REALLOC: realloc(NULL, n) is malloc";
  std::memset(p, 'a', 100);
  EXPECT_EQ(std::realloc(p, 90), p) << "MALLOC-REALLOC: in place while it fits";
  auto* q = static_cast<char*>(std::realloc(p, 5000));
  ASSERT_NE(q, nullptr);
  for (int k = 0; k < 90; ++k) ASSERT_EQ(q[k], 'a') << "MALLOC-REALLOC: contents kept";
  auto* r = static_cast<char*>(std::realloc(q, 10));
  for (int k = 0; k < 10; ++k) ASSERT_EQ(r[k], 'a') << "MALLOC-REALLOC: shrink keeps the prefix";
  errno = 0;
  EXPECT_EQ(std::realloc(r, g_huge), nullptr) << "MALLOC-REALLOC: failure";
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(r[0], 'a') << "MALLOC-REALLOC: the old block is untouched on failure";
  EXPECT_EQ(std::realloc(r, 0), nullptr) << "MALLOC-REALLOC: realloc(p, 0) frees";
  errno = 0;
  EXPECT_EQ(reallocarray(nullptr, g_huge / 2, 4), nullptr) << "MALLOC-REALLOC: reallocarray";
  EXPECT_EQ(errno, ENOMEM);
}

long StatusKib(const char* field) {  // a "VmRSS:"-style line of /proc/self/status
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  long kib = -1;
  const std::size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f) != nullptr)
    if (std::strncmp(line, field, n) == 0) kib = std::strtol(line + n, nullptr, 10);
  std::fclose(f);
  return kib;
}

// Plain builds (not checked, not memcheck's or ASan's): only there are the
// bytes of a large block the C heap's alone (checked builds fill them).
bool PlainBlocks() {
  const concalloc::BuildInfo info = concalloc::GetBuildInfo();
  return !info.checked && !info.exact_usable_size;
}

// MALLOC-CALLOC: a large calloc block fresh from the system is not written
// (the C heap's calloc knows mapped pages are zero), and a reused one is
// zeroed. Seen failing before: 64 MiB resident after calloc(1, 64 MiB).
TEST(Malloc, CallocOfALargeFreshBlockWritesNoPage) {
  constexpr std::size_t kBytes = std::size_t{64} << 20;
  const long before = StatusKib("VmRSS:");
  auto* p = static_cast<unsigned char*>(std::calloc(1, kBytes));
  ASSERT_NE(p, nullptr);
  const long grown = StatusKib("VmRSS:") - before;
  if (PlainBlocks())
    EXPECT_LT(grown, 8 * 1024) << "MALLOC-CALLOC: calloc(1, 64 MiB) made " << grown / 1024
                               << " MiB resident before the caller wrote a byte";
  for (std::size_t k = 0; k < kBytes; k += 4096) ASSERT_EQ(p[k], 0) << "MALLOC-CALLOC: zeroed";
  ASSERT_EQ(p[kBytes - 1], 0) << "MALLOC-CALLOC: zeroed";
  std::free(p);
  for (std::size_t n : {std::size_t{20000}, std::size_t{200000}}) {  // reused large blocks
    auto* dirty = static_cast<unsigned char*>(Escape(std::malloc(n)));
    std::memset(dirty, 0xAB, n);
    std::free(Escape(dirty));
    auto* z = static_cast<unsigned char*>(std::calloc(n, 1));
    ASSERT_NE(z, nullptr);
    for (std::size_t k = 0; k < n; ++k) ASSERT_EQ(z[k], 0) << "MALLOC-CALLOC: zeroed, byte " << k;
    std::free(z);
  }
}

// MALLOC-REALLOC: a large block that grows moves its pages (the C heap's
// realloc: mremap for a mapped block), it does not copy them: the peak
// resident set does not grow by the block's size. Seen failing before:
// 64 MiB more at the peak (old and new block both resident during the copy).
TEST(Malloc, ReallocOfALargeBlockMovesItsPages) {
  constexpr std::size_t kBytes = std::size_t{64} << 20;
  auto* p = static_cast<unsigned char*>(std::malloc(kBytes));
  ASSERT_NE(p, nullptr);
  // One byte in every page (4093 < 4096): every page resident, each marked.
  for (std::size_t k = 0; k < kBytes; k += 4093) p[k] = static_cast<unsigned char>(k * 7 + 1);
  FILE* clear = std::fopen("/proc/self/clear_refs", "w");  // "5": the peak is reset
  ASSERT_NE(clear, nullptr);
  std::fputs("5", clear);
  std::fclose(clear);
  const long peak0 = StatusKib("VmHWM:");
  auto* q = static_cast<unsigned char*>(std::realloc(p, 2 * kBytes));
  ASSERT_NE(q, nullptr);
  const long grown = StatusKib("VmHWM:") - peak0;
  if (PlainBlocks())
    EXPECT_LT(grown, 16 * 1024) << "MALLOC-REALLOC: growing a 64 MiB block raised the peak "
                                   "resident set by " << grown / 1024 << " MiB (copied)";
  for (std::size_t k = 0; k < kBytes; k += 4093)
    ASSERT_EQ(q[k], static_cast<unsigned char>(k * 7 + 1)) << "MALLOC-REALLOC: contents kept";
  EXPECT_GE(malloc_usable_size(q), 2 * kBytes) << "USABLE-1";
  auto* r = static_cast<unsigned char*>(std::realloc(q, 20000));  // down to a smaller large block
  ASSERT_NE(r, nullptr);
  for (std::size_t k = 0; k < 20000; k += 4093)
    ASSERT_EQ(r[k], static_cast<unsigned char>(k * 7 + 1)) << "MALLOC-REALLOC: the prefix kept";
  std::free(r);
}

TEST(Malloc, AlignedEntryPointsValidateAndAlign) {
  void* p = nullptr;
  EXPECT_EQ(posix_memalign(&p, 3, 10), EINVAL) << "MALLOC-ALIGN";
  EXPECT_EQ(posix_memalign(&p, 4, 10), EINVAL) << "MALLOC-ALIGN: not a multiple of sizeof(void*)";
  for (std::size_t a = 8; a <= 65536; a *= 2) {
    ASSERT_EQ(posix_memalign(&p, a, 100), 0);
    EXPECT_TRUE(Aligned(p, a)) << "MALLOC-ALIGN posix_memalign " << a;
    std::free(p);
    p = aligned_alloc(a, 100);
    EXPECT_TRUE(Aligned(p, a)) << "MALLOC-ALIGN aligned_alloc " << a;
    std::free(p);
    p = memalign(a, 100);
    EXPECT_TRUE(Aligned(p, a)) << "MALLOC-ALIGN memalign " << a;
    std::free(p);
  }
  errno = 0;
  volatile std::size_t not_a_power_of_two = 24;  // not a constant: no compiler warning
  EXPECT_EQ(aligned_alloc(not_a_power_of_two, 100), nullptr) << "MALLOC-ALIGN";
  EXPECT_EQ(errno, EINVAL);
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  p = valloc(10);
  EXPECT_TRUE(Aligned(p, page)) << "MALLOC-ALIGN valloc";
  std::free(p);
  p = pvalloc(10);
  EXPECT_TRUE(Aligned(p, page)) << "MALLOC-ALIGN pvalloc";
  EXPECT_GE(malloc_usable_size(p), page) << "MALLOC-ALIGN pvalloc rounds up to a page";
  std::free(p);
  EXPECT_EQ(malloc_usable_size(nullptr), 0u);
}

TEST(Malloc, FreePreservesErrno) {
  for (std::size_t n : {10, 5000, 100000}) {
    void* p = std::malloc(n);
    errno = 1234;
    std::free(p);
    EXPECT_EQ(errno, 1234) << "MALLOC-ERRNO size " << n;
  }
}

struct alignas(256) Big {
  char c[256];
};

TEST(Malloc, EveryOperatorNewForm) {
  delete new int(1);
  delete[] new int[10];
  delete new (std::nothrow) int(2);
  Big* b = new Big;
  EXPECT_TRUE(Aligned(b, 256)) << "MALLOC-NEW align_val_t";
  delete b;
  Big* bs = new Big[3];
  EXPECT_TRUE(Aligned(bs, 256)) << "MALLOC-NEW align_val_t[]";
  delete[] bs;
  EXPECT_THROW((void)::operator new(g_huge), std::bad_alloc) << "MALLOC-NEW";
  EXPECT_EQ(::operator new(g_huge, std::nothrow), nullptr) << "MALLOC-NEW nothrow";
}

// MALLOC-LATE: frees after the thread's cache is gone (a key destructor that
// runs after the library's) go to the backend and never re-create the cache.
// What the late key destructor saw.
struct LateReport {
  bool ran = false;
  bool malloc_ok = false;
  std::size_t cached_after_free = 99;
};
LateReport g_late;

void LateKeyDestructor(void* arg) {
  void* p = Escape(std::malloc(64));
  g_late.malloc_ok = p != nullptr;
  std::free(p);
  std::free(arg);
  g_late.cached_after_free = concalloc::GetThreadStats().cached_blocks;
  g_late.ran = true;
}

TEST(Malloc, LateFreesAfterTheCacheIsGone) {
  pthread_key_t key;
  std::thread([&] {
    std::free(Escape(std::malloc(32)));  // the cache exists now
    ASSERT_EQ(pthread_key_create(&key, &LateKeyDestructor), 0);
    pthread_setspecific(key, std::malloc(100));
  }).join();
  pthread_key_delete(key);
  ASSERT_TRUE(g_late.ran) << "MALLOC-LATE: the key destructor ran";
  EXPECT_TRUE(g_late.malloc_ok) << "MALLOC-LATE: malloc after the cache is gone";
  EXPECT_EQ(g_late.cached_after_free, 0u) << "MALLOC-LATE: no cache re-created (LIFE-2)";
  EXPECT_TRUE(concalloc::Validate()) << "MALLOC-LATE";
}

TEST(Malloc, ForkFromAThreadedProgram) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> busy;
  for (int t = 0; t < 2; ++t)
    busy.emplace_back([&] {
      std::vector<void*> v;
      while (!stop.load()) {
        v.push_back(std::malloc(64 + v.size()));
        if (v.size() > 100) {
          for (void* p : v) std::free(p);
          v.clear();
        }
      }
      for (void* p : v) std::free(p);
    });
  for (int round = 0; round < 5; ++round) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      std::string s;
      for (int i = 0; i < 1000; ++i) s += std::to_string(i);
      std::thread([] { std::free(Escape(std::malloc(1000))); }).join();
      _exit(s.size() > 1000 ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "MALLOC-FORK";
  }
  stop = true;
  for (std::thread& t : busy) t.join();
}

TEST(Malloc, DlopenAndGlibcMallocCalls) {
  void* lib = dlopen("libz.so.1", RTLD_NOW);
  if (lib == nullptr) lib = dlopen("libm.so.6", RTLD_NOW);
  ASSERT_NE(lib, nullptr) << "MALLOC-DLOPEN: " << dlerror();
  EXPECT_EQ(dlclose(lib), 0) << "MALLOC-DLOPEN";
  EXPECT_GE(malloc_trim(0), 0) << "MALLOC-GLIBC: malloc_trim works";
  const struct mallinfo2 info = mallinfo2();
  EXPECT_GE(info.arena, 0u) << "MALLOC-GLIBC: mallinfo2 works";
  EXPECT_EQ(mallopt(M_TRIM_THRESHOLD, 1 << 20), 1) << "MALLOC-GLIBC: mallopt works";
}

// MALLOC-STRESS: many threads, random sizes up to 1 MiB, cross-thread frees,
// realloc chains, a fork in the middle; contents verified. Each block starts with its size and
// ends with a tag byte; whichever thread frees it checks both.
struct Stamp {
  std::size_t size;
  unsigned char tag;
};

unsigned char* Stamped(unsigned char* p, std::size_t n, unsigned char tag) {
  const Stamp s{n, tag};
  std::memcpy(p, &s, sizeof s);
  p[n - 1] = tag;
  return p;
}

bool StampIntact(const unsigned char* p) {
  Stamp s;
  std::memcpy(&s, p, sizeof s);
  return s.size >= sizeof s && malloc_usable_size(const_cast<unsigned char*>(p)) >= s.size &&
         p[s.size - 1] == s.tag;
}

TEST(Malloc, MultithreadedStress) {
  constexpr int kThreads = 6, kSteps = 20000;
  std::vector<std::atomic<unsigned char*>> shared(64);
  std::atomic<long> bad{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t)
    pool.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int i = 0; i < kSteps; ++i) {
        const std::size_t n = 32 + (rng() % 16 == 0 ? rng() % (1 << 20) : rng() % 2000);
        const auto tag = static_cast<unsigned char>(rng());
        unsigned char* p = Stamped(static_cast<unsigned char*>(std::malloc(n)), n, tag);
        std::size_t cur = n;
        for (int link = rng() % 3; link > 0; --link) {  // a realloc chain
          const std::size_t m = 32 + rng() % 4000;
          p = static_cast<unsigned char*>(std::realloc(p, m));
          if (m >= cur && !StampIntact(p)) bad.fetch_add(1);  // grown: every byte kept
          p = Stamped(p, m, tag);
          cur = m;
        }
        unsigned char* old = shared[rng() % shared.size()].exchange(p);
        if (old != nullptr) {
          if (!StampIntact(old)) bad.fetch_add(1);
          std::free(old);
        }
        if (t == 0 && i == kSteps / 2) {  // fork in the middle (MALLOC-FORK)
          const pid_t pid = fork();
          if (pid == 0) {
            std::vector<void*> v;
            for (int k = 0; k < 1000; ++k) v.push_back(std::malloc(1 + k % 3000));
            for (void* q : v) std::free(q);
            _exit(0);
          }
          int status = 1;
          waitpid(pid, &status, 0);
          if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) bad.fetch_add(1);
        }
      }
    });
  for (std::thread& th : pool) th.join();
  for (auto& slot : shared) {
    unsigned char* p = slot.exchange(nullptr);
    if (p != nullptr && !StampIntact(p)) bad.fetch_add(1);
    std::free(p);
  }
  EXPECT_EQ(bad.load(), 0) << "MALLOC-STRESS: contents changed";
}

}  // namespace

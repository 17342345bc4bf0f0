// Unit tests, one or more per clause of spec/SPEC.md; each failure message
// names its clause.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <concalloc/backend.h>
#include <concalloc/concalloc.h>
#include <concalloc/concrt.h>

#include "platform/config.h"
#include "test_support.h"

namespace {

using concalloc::test::CountingBackend;
using concalloc::test::ScopedCountingBackend;
using concalloc::test::ScopedDepotBudget;
using concalloc::test::ScopedDepth;

bool Aligned(const void* p, std::size_t a) { return reinterpret_cast<std::uintptr_t>(p) % a == 0; }

void ExpectValid(const char* where) {
  const concalloc::ValidationResult r = concalloc::Validate();
  EXPECT_TRUE(r) << where << ": " << (r.clause ? r.clause : "") << " " << (r.reason ? r.reason : "");
}

TEST(Alloc, ReturnsAlignedBlocksOfAtLeastTheSize) {
  for (std::size_t n : {0, 1, 15, 16, 17, 100, 496, 497, 1000, 8176, 8177, 100000}) {
    void* p = concalloc::Alloc(n);
    ASSERT_NE(p, nullptr) << "ALLOC-1";
    EXPECT_TRUE(Aligned(p, alignof(std::max_align_t))) << "ALLOC-1 size " << n;
    EXPECT_GE(concalloc::UsableSize(p), n) << "USABLE-1 size " << n;
    std::memset(p, 0x5A, concalloc::UsableSize(p));
    concalloc::Free(p);
  }
}

TEST(Alloc, ZeroBytesGivesUniqueNonNullPointers) {
  std::set<void*> seen;
  std::vector<void*> blocks;
  for (int i = 0; i < 100; ++i) {
    void* p = concalloc::Alloc(0);
    ASSERT_NE(p, nullptr) << "ALLOC-2";
    EXPECT_TRUE(seen.insert(p).second) << "ALLOC-2: Alloc(0) returned a live pointer twice";
    blocks.push_back(p);
  }
  for (void* p : blocks) concalloc::Free(p);
}

TEST(Alloc, UnrepresentableSizesThrowAndChangeNothing) {
  ScopedCountingBackend backend;
  void* keep = concalloc::Alloc(64);
  concalloc::Free(keep);  // cached blocks, so "nothing changed" is visible
  const concalloc::ThreadStats before = concalloc::GetThreadStats();
  const int asked = CountingBackend::Taken();
  const std::size_t max = std::numeric_limits<std::size_t>::max();
  const std::size_t pmax = static_cast<std::size_t>(PTRDIFF_MAX);
  for (std::size_t n : {max, max - 15, pmax + 1, pmax, pmax - 15, pmax - 16})
    EXPECT_THROW(concalloc::Alloc(n), std::bad_alloc) << "ALLOC-3 size " << n;
  for (std::size_t n : {max, pmax, pmax - 4096})
    EXPECT_THROW(concalloc::AllocAligned(n, 4096), std::bad_alloc) << "ALLOC-3 size " << n;
  EXPECT_THROW(concalloc::AllocAligned(16, std::size_t{1} << 62), std::bad_alloc) << "ALLOC-3";
  const concalloc::ThreadStats after = concalloc::GetThreadStats();
  EXPECT_EQ(after.cached_blocks, before.cached_blocks) << "ALLOC-3: nothing changed";
  EXPECT_EQ(after.backend_allocs, before.backend_allocs) << "ALLOC-3: nothing changed";
  EXPECT_EQ(CountingBackend::Taken(), asked) << "ALLOC-3: the backend was not asked";
  ExpectValid("ALLOC-3");
}

TEST(Alloc, BackendFailureThrowsAndLosesNothing) {
  ScopedCountingBackend backend;
  void* cached = concalloc::Alloc(100);
  concalloc::Free(cached);
  CountingBackend::fail = true;
  const concalloc::ThreadStats before = concalloc::GetThreadStats();
  EXPECT_THROW(concalloc::Alloc(1000), std::bad_alloc) << "ALLOC-4: empty list, failed backend";
  EXPECT_THROW(concalloc::Alloc(100000), std::bad_alloc) << "ALLOC-4: large block";
  EXPECT_THROW(concalloc::AllocAligned(100, 256), std::bad_alloc) << "ALLOC-4: aligned block";
  errno = 0;
  EXPECT_EQ(concalloc_alloc(1000), nullptr) << "CAPI-1";
  EXPECT_EQ(errno, ENOMEM) << "CAPI-1";
  EXPECT_EQ(concalloc_alloc_aligned(100, 256), nullptr) << "CAPI-1";
  const concalloc::ThreadStats after = concalloc::GetThreadStats();
  EXPECT_EQ(after.cached_blocks, before.cached_blocks) << "ALLOC-4";
  EXPECT_EQ(after.backend_allocs, before.backend_allocs) << "ALLOC-4";
  ExpectValid("ALLOC-4");
  // A cached block is still served while the backend fails (CACHE-2).
  EXPECT_EQ(concalloc::Alloc(100), cached) << "ALLOC-4: the cache is intact";
  CountingBackend::fail = false;
  concalloc::Free(cached);
  concalloc::FlushThreadCache();
  EXPECT_EQ(CountingBackend::Outstanding(), 0) << "ALLOC-4: nothing lost";
}

TEST(Alloc, LiveBlocksKeepTheirContents) {
  std::vector<std::pair<unsigned char*, std::size_t>> blocks;
  for (std::size_t i = 0; i < 2000; ++i) {
    const std::size_t n = (i * 7919) % 9000;
    auto* p = static_cast<unsigned char*>(concalloc::Alloc(n));
    std::memset(p, static_cast<int>(i & 0xFF), n);
    blocks.emplace_back(p, n);
    if (i % 3 == 0) {  // free some on the way, so blocks are reused
      auto [q, m] = blocks[i / 2];
      if (q != nullptr) {
        concalloc::Free(q);
        blocks[i / 2].first = nullptr;
      }
    }
  }
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    auto [p, n] = blocks[i];
    if (p == nullptr) continue;
    for (std::size_t k = 0; k < n; ++k)
      ASSERT_EQ(p[k], static_cast<unsigned char>(i & 0xFF)) << "ALLOC-5: contents changed";
    concalloc::Free(p);
  }
}

TEST(Free, NullDoesNothing) {
  const concalloc::ThreadStats before = concalloc::GetThreadStats();
  concalloc::Free(nullptr);
  concalloc_free(nullptr);
  concurrency::Free(nullptr);
  const concalloc::ThreadStats after = concalloc::GetThreadStats();
  EXPECT_EQ(std::memcmp(&before, &after, sizeof before), 0) << "FREE-1";
}

TEST(Free, AnotherThreadCachesTheBlockInItsOwnCache) {
  ScopedCountingBackend backend;
  void* p = concalloc::Alloc(48);
  concalloc::ThreadStats in_thread{};
  std::thread([&] {
    concalloc::Free(p);
    in_thread = concalloc::GetThreadStats();
  }).join();
  EXPECT_EQ(in_thread.frees_cached, 1u) << "FREE-2: cached by the freeing thread";
  EXPECT_EQ(in_thread.cached_blocks, 1u) << "FREE-2";
  EXPECT_EQ(CountingBackend::OutsideDepot(), concalloc::GetThreadStats().cached_blocks)
      << "FREE-2, LIFE-1: given up at thread exit (what is left is this thread's cache: "
         "CACHE-FILL)";
}

TEST(Free, LargeAndAlignedBlocksGoStraightToTheBackend) {
  ScopedCountingBackend backend;
  void* large = concalloc::Alloc(20000);
  void* aligned = concalloc::AllocAligned(100, 4096);
  EXPECT_EQ(CountingBackend::Outstanding(), 2);
  concalloc::Free(large);
  concalloc::Free(aligned);
  EXPECT_EQ(CountingBackend::Outstanding(), 0) << "FREE-3";
  EXPECT_EQ(concalloc::GetThreadStats().cached_blocks, 0u) << "FREE-3";
}

TEST(Cache, ListsAreLastInFirstOut) {
  ScopedDepth depth(32);
  void* a = concalloc::Alloc(200);
  void* b = concalloc::Alloc(200);
  concalloc::Free(a);
  concalloc::Free(b);
  EXPECT_EQ(concalloc::Alloc(200), b) << "CACHE-2: LIFO";
  EXPECT_EQ(concalloc::Alloc(200), a) << "CACHE-2: LIFO";
  concalloc::Free(a);
  concalloc::Free(b);
}

TEST(Cache, FullListSendsTheBlockToTheBackendWithoutDepot) {
  ScopedCountingBackend backend;
  ScopedDepotBudget no_depot(0);
  ScopedDepth depth(4);
  const std::uint64_t frees0 = concalloc::GetThreadStats().frees_cached;
  std::vector<void*> blocks;
  for (int i = 0; i < 6; ++i) blocks.push_back(concalloc::Alloc(300));
  for (void* p : blocks) concalloc::Free(p);
  const concalloc::ThreadStats s = concalloc::GetThreadStats();
  EXPECT_EQ(s.cached_blocks, 4u) << "CACHE-3: the bound";
  EXPECT_EQ(s.frees_cached - frees0, 4u) << "CACHE-3";
  EXPECT_EQ(CountingBackend::Outstanding(), 4) << "CACHE-3: two blocks went back";
  ExpectValid("CACHE-3");
}

// CACHE-FILL: the k-th miss of a class that the depot cannot serve takes
// min(2^k, max(1, limit / 2), max(1, 4096 / class size)) blocks from the
// backend at once: the one returned, and the rest on the list. On a new
// thread, whose cache has seen no miss yet.
TEST(Cache, AMissWithoutDepotFillsTheListFromTheBackend) {
  ScopedCountingBackend backend;
  ScopedDepotBudget no_depot(0);
  ScopedDepth depth(32);
  std::thread([] {
    std::vector<void*> blocks;
    // Misses k = 1..5 of the 32-byte class: 2, 4, 8, 16, then 16 again
    // (half the list: min(32, 16, 128)).
    for (std::uint64_t want : {2u, 4u, 8u, 16u, 16u}) {
      const concalloc::ThreadStats s0 = concalloc::GetThreadStats();
      blocks.push_back(concalloc::Alloc(16));
      const concalloc::ThreadStats s1 = concalloc::GetThreadStats();
      EXPECT_EQ(s1.backend_allocs - s0.backend_allocs, want)
          << "CACHE-FILL: the ramp 2, 4, 8, 16, then half the list";
      EXPECT_EQ(s1.cached_blocks, want - 1) << "CACHE-FILL: all but one on the list";
      EXPECT_EQ(s1.backend_blocks_in - s0.backend_blocks_in, want - 1) << "CACHE-FILL: counted";
      for (std::uint64_t i = 1; i < want; ++i) blocks.push_back(concalloc::Alloc(16));
      const concalloc::ThreadStats s2 = concalloc::GetThreadStats();
      EXPECT_EQ(s2.backend_allocs, s1.backend_allocs) << "CACHE-FILL: the next ones are hits";
      EXPECT_EQ(s2.alloc_hits - s1.alloc_hits, want - 1) << "CACHE-FILL";
    }
    // The 1024-byte class: 2, then 4 (4 KiB at most), then 4 again.
    for (std::uint64_t want : {2u, 4u, 4u}) {
      const std::uint64_t allocs0 = concalloc::GetThreadStats().backend_allocs;
      blocks.push_back(concalloc::Alloc(1000));
      EXPECT_EQ(concalloc::GetThreadStats().backend_allocs - allocs0, want)
          << "CACHE-FILL: 4 KiB at most";
      for (std::uint64_t i = 1; i < want; ++i) blocks.push_back(concalloc::Alloc(1000));
    }
    const std::uint64_t cached = concalloc::GetThreadStats().cached_blocks;
    blocks.push_back(concalloc::Alloc(5000));  // 4096 / 5120 = 0: one block, none cached
    EXPECT_EQ(concalloc::GetThreadStats().cached_blocks, cached) << "CACHE-FILL: at least one";
    ExpectValid("CACHE-FILL");
    for (void* p : blocks) concalloc::Free(p);
  }).join();
  EXPECT_EQ(CountingBackend::Outstanding(), 0) << "CACHE-FILL: nothing lost (INV-CONSERVE)";
}

// CACHE-FILL, ALLOC-4: when the backend fails during the fill, the miss is
// served from what the fill got.
TEST(Cache, ABackendFailingDuringTheFillStillServesTheMiss) {
  ScopedCountingBackend backend;
  ScopedDepotBudget no_depot(0);
  ScopedDepth depth(32);
  if (concalloc::GetBuildInfo().spans) {
    // HEAP-SPAN: one span allowed. Class 2048's spans hold 31 blocks and its
    // fills take 2, so the 16th miss finds one slot left, and a new span
    // refused: that one block serves it, and the next miss fails.
    std::thread([] {
      CountingBackend::succeed = 1;
      std::vector<void*> blocks;
      std::uint64_t cached_before_throw = ~std::uint64_t{0};
      bool threw = false;
      for (int k = 0; k < 10000 && !threw; ++k) {
        cached_before_throw = concalloc::GetThreadStats().cached_blocks;
        try {
          blocks.push_back(concalloc::Alloc(2000));
        } catch (const std::bad_alloc&) {
          threw = true;
        }
      }
      EXPECT_TRUE(threw) << "ALLOC-4: the backend refused a second span";
      EXPECT_GE(blocks.size(), 31u) << "HEAP-SPAN: every slot of the span was used";
      EXPECT_EQ(cached_before_throw, 0u) << "CACHE-FILL: the short fill served its miss";
      EXPECT_EQ(CountingBackend::Outstanding(), static_cast<long>(blocks.size()))
          << "CACHE-FILL: nothing lost (INV-CONSERVE)";
      CountingBackend::succeed = -1;
      for (void* p : blocks) concalloc::Free(p);
      concalloc::FlushThreadCache();
    }).join();
    EXPECT_EQ(CountingBackend::Outstanding(), 0) << "CACHE-FILL: nothing lost (INV-CONSERVE)";
    return;
  }
  std::thread([] {
    for (int i = 0; i < 3; ++i) {  // the ramp to 16: misses of 2, 4 and 8
      std::vector<void*> blocks;
      for (int k = 0; k < (2 << i); ++k) blocks.push_back(concalloc::Alloc(16));
      for (void* p : blocks) concalloc::Free(p);
      concalloc::FlushThreadCache();
    }
    const int allocs0 = CountingBackend::Taken();
    CountingBackend::succeed = 5;  // the fill wants 15, then the miss's own block
    void* p = nullptr;
    EXPECT_NO_THROW(p = concalloc::Alloc(16)) << "CACHE-FILL: 5 blocks were got";
    EXPECT_EQ(CountingBackend::Taken() - allocs0, 5) << "CACHE-FILL";
    EXPECT_EQ(concalloc::GetThreadStats().cached_blocks, 4u) << "CACHE-FILL: one of the 5 served";
    ExpectValid("CACHE-FILL");
    concalloc::Free(p);
    concalloc::FlushThreadCache();
  }).join();
  EXPECT_EQ(CountingBackend::Outstanding(), 0) << "CACHE-FILL: nothing lost (INV-CONSERVE)";
}

TEST(Cache, DepthZeroCachesNothing) {
  ScopedCountingBackend backend;
  ScopedDepth depth(0);
  void* p = concalloc::Alloc(64);
  concalloc::Free(p);
  EXPECT_EQ(concalloc::GetThreadStats().cached_blocks, 0u) << "CONF-DEPTH: depth 0";
  EXPECT_EQ(CountingBackend::Outstanding(), 0) << "CONF-DEPTH: depth 0";
}

TEST(Config, DepthParsingAndBounds) {
  const auto parse = [](const char* text) {
    return concalloc::detail::ParseSetting(text, 32, concalloc::kMaxCacheDepth);
  };
  EXPECT_EQ(parse(nullptr), 32u) << "CONF-DEPTH: default";
  EXPECT_EQ(parse(""), 32u) << "CONF-DEPTH";
  EXPECT_EQ(parse("0"), 0u) << "CONF-DEPTH";
  EXPECT_EQ(parse("17"), 17u) << "CONF-DEPTH";
  EXPECT_EQ(parse("65536"), 65536u) << "CONF-DEPTH";
  EXPECT_EQ(parse("65537"), 32u) << "CONF-DEPTH: above the maximum";
  EXPECT_EQ(parse("12x"), 32u) << "CONF-DEPTH: not a number";
  EXPECT_EQ(parse("-1"), 32u) << "CONF-DEPTH: not a number";
  const std::size_t before = concalloc::CacheDepth();
  EXPECT_FALSE(concalloc::SetCacheDepth(concalloc::kMaxCacheDepth + 1)) << "CONF-DEPTH";
  EXPECT_EQ(concalloc::CacheDepth(), before) << "CONF-DEPTH: a refused value changes nothing";
}

TEST(Config, EnvironmentSetsTheDepthAtStartUp) {
  // The death-test child re-runs this binary from its start, so it reads the
  // environment afresh (CONF-DEPTH: read once, at first use).
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  ::setenv("CONCALLOC_CACHE_DEPTH", "3", 1);
  EXPECT_EXIT(
      {
        // The fourth Free finds the list of 3 full and spills one block, which
        // goes to the depot at once (DEPOT-XFER: the first transfer is one
        // spill), so the thread holds the 3 of a full list.
        std::vector<void*> blocks;
        for (int i = 0; i < 4; ++i) blocks.push_back(concalloc::Alloc(64));
        for (void* p : blocks) concalloc::Free(p);
        std::exit(concalloc::CacheDepth() == 3 && concalloc::GetThreadStats().cached_blocks == 3
                      ? 0
                      : 1);
      },
      ::testing::ExitedWithCode(0), "")
      << "CONF-DEPTH: CONCALLOC_CACHE_DEPTH=3";
  ::unsetenv("CONCALLOC_CACHE_DEPTH");
}

TEST(Flush, ReturnsEveryCachedBlock) {
  ScopedCountingBackend backend;
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < 200; ++i) blocks.push_back(concalloc::Alloc(i * 40));
  void* live = concalloc::Alloc(64);
  for (void* p : blocks) concalloc::Free(p);
  EXPECT_GT(concalloc::GetThreadStats().cached_blocks, 0u);
  concalloc::FlushThreadCache();
  const concalloc::ThreadStats s = concalloc::GetThreadStats();
  EXPECT_EQ(s.cached_blocks, 0u) << "FLUSH-1";
  EXPECT_EQ(s.cached_bytes, 0u) << "FLUSH-1";
  // (Blocks that list bounds sent to the depot on the way stay there.)
  EXPECT_EQ(CountingBackend::OutsideDepot(), 1) << "FLUSH-1: only the live block is out";
  concalloc_flush_thread_cache();
  ExpectValid("FLUSH-1");
  concalloc::Free(live);
}

TEST(Stats, CountersFollowTheirDefinitions) {
  ScopedCountingBackend backend;
  ScopedDepotBudget no_depot(0);
  ScopedDepth depth(2);
  const concalloc::ThreadStats s0 = concalloc::GetThreadStats();
  void* a = concalloc::Alloc(10);     // miss
  void* b = concalloc::Alloc(10);     // miss
  void* c = concalloc::Alloc(10);     // miss
  void* big = concalloc::Alloc(9000); // large
  concalloc::Free(a);                 // cached
  concalloc::Free(b);                 // cached
  concalloc::Free(c);                 // list full: backend
  concalloc::Free(big);               // backend
  void* d = concalloc::Alloc(10);     // hit
  const concalloc::ThreadStats s = concalloc::GetThreadStats();
  EXPECT_EQ(s.alloc_misses - s0.alloc_misses, 3u) << "STATS-1 alloc_misses";
  EXPECT_EQ(s.alloc_hits - s0.alloc_hits, 1u) << "STATS-1 alloc_hits";
  EXPECT_EQ(s.frees_cached - s0.frees_cached, 2u) << "STATS-1 frees_cached";
  EXPECT_EQ(s.backend_allocs - s0.backend_allocs, 4u) << "STATS-1 backend_allocs";
  EXPECT_EQ(s.backend_frees - s0.backend_frees, 2u) << "STATS-1 backend_frees";
  EXPECT_EQ(s.cached_blocks, 1u) << "STATS-1 cached_blocks";
  EXPECT_EQ(s.cached_bytes, 32u) << "STATS-1 cached_bytes (class of 10 bytes: 32)";
  EXPECT_EQ(s.cached_blocks, s.frees_cached + s.depot_blocks_in + s.backend_blocks_in -
                                 s.alloc_hits - s.flushed_blocks - s.depot_blocks_out)
      << "INV-STATS";
  concalloc::Free(d);
  concalloc::FlushThreadCache();
  const concalloc::ThreadStats f = concalloc::GetThreadStats();
  EXPECT_EQ(f.flushed_blocks - s.flushed_blocks, 2u) << "STATS-1 flushed_blocks";
  EXPECT_EQ(f.backend_allocs - f.backend_frees, s0.backend_allocs - s0.backend_frees)
      << "INV-CONSERVE: every block taken is back";
}

TEST(Validate, ReportsACorruptTagWithItsAddress) {
  ScopedDepth depth(8);
  void* p = concalloc::Alloc(64);
  concalloc::Free(p);
  ExpectValid("VALIDATE-1 before");
  auto* tag = static_cast<std::uint64_t*>(p) - 1;  // HDR-1: the word below the caller's bytes
  const std::uint64_t saved = concalloc::test::PeekWord(tag);
  // A stray write into a cached header: checked builds check the class and
  // state bits (HDR-2); hardened release builds keep only the link there,
  // whose bit 63 says "cached" (HARD-DOUBLE); other release builds (memcheck,
  // HARDENED=OFF) keep the link in clear, and a link with bit 63 set is no
  // user-space address (INV-LIST).
  const concalloc::BuildInfo info = concalloc::GetBuildInfo();
  const bool tag_kept = info.checked || info.hardened;
  const std::uint64_t stray = info.checked ? 0x7F : std::uint64_t{1} << 63;
  concalloc::test::PokeWord(tag, saved ^ stray);
  const concalloc::ValidationResult r = concalloc::Validate();
  ASSERT_FALSE(r) << "VALIDATE-1";
  EXPECT_STREQ(r.clause, tag_kept ? "INV-TAG" : "INV-LIST") << "VALIDATE-1";
  EXPECT_EQ(r.address, p) << "VALIDATE-1: a block is named by the pointer Alloc returned";
  concalloc::test::PokeWord(tag, saved);
  ExpectValid("VALIDATE-1 after repair");
}

TEST(Validate, ReportsABrokenListLink) {
  ScopedDepth depth(8);
  void* p = concalloc::Alloc(64);
  void* q = concalloc::Alloc(64);
  concalloc::Free(p);
  concalloc::Free(q);  // q -> p
  // HDR-1: the link is the header's word (below the tag) in checked builds,
  // its tag (right below the caller's bytes) in release builds.
  const int link = concalloc::GetBuildInfo().checked ? 0 : 1;
  auto* header = static_cast<std::uint64_t*>(q) - 2;
  const std::uint64_t saved = concalloc::test::PeekWord(&header[link]);
  concalloc::test::PokeWord(&header[link], saved ^ 0x8);  // misaligns the link
  const concalloc::ValidationResult r = concalloc::Validate();
  ASSERT_FALSE(r) << "VALIDATE-1";
  EXPECT_STREQ(r.clause, "INV-LIST") << "VALIDATE-1";
  concalloc::test::PokeWord(&header[link], saved);
  ExpectValid("VALIDATE-1 after repair");
}

TEST(AllocAligned, EveryPowerOfTwoTo1MiB) {
  ScopedCountingBackend backend;
  for (std::size_t a = 1; a <= (std::size_t{1} << 20); a *= 2) {
    for (std::size_t n : {0, 1, 100, 5000}) {
      void* p = concalloc::AllocAligned(n, a);
      EXPECT_TRUE(Aligned(p, std::max(a, std::size_t{16}))) << "ALIGN-1 alignment " << a;
      EXPECT_GE(concalloc::UsableSize(p), n) << "ALIGN-1, USABLE-1";
      std::memset(p, 0x11, n);
      void* c = concalloc_alloc_aligned(n, a);
      EXPECT_TRUE(Aligned(c, std::max(a, std::size_t{16}))) << "CAPI-1 alignment " << a;
      concalloc_free(c);
      concalloc::Free(p);
    }
  }
  concalloc::FlushThreadCache();
  EXPECT_EQ(CountingBackend::Outstanding(), 0) << "ALIGN-1: freed with Free";
}

// USABLE-1, SAN-USABLE: every byte UsableSize promises is usable (ASan
// and memcheck would report the write otherwise), and in their builds it is
// exactly the size asked (seen failing under ASan: AllocAligned(100, 64)
// gave 128, and the write past 100 was reported).
TEST(AllocAligned, EveryUsableByteIsUsable) {
  const bool exact = concalloc::GetBuildInfo().exact_usable_size;
  for (std::size_t a = 32; a <= 4096; a *= 2) {
    for (std::size_t n : {1, 100, 1000, 9000}) {
      auto* p = static_cast<unsigned char*>(concalloc::AllocAligned(n, a));
      const std::size_t usable = concalloc::UsableSize(p);
      EXPECT_GE(usable, n) << "USABLE-1: AllocAligned(" << n << ", " << a << ")";
      if (exact) EXPECT_EQ(usable, n) << "SAN-USABLE: AllocAligned(" << n << ", " << a << ")";
      std::memset(p, 0x22, usable);
      concalloc::Free(p);
    }
  }
}

TEST(AllocAligned, BadAlignmentIsReported) {
  errno = 0;
  EXPECT_EQ(concalloc_alloc_aligned(10, 3), nullptr) << "CAPI-2";
  EXPECT_EQ(errno, EINVAL) << "CAPI-2";
  errno = 0;
  EXPECT_EQ(concalloc_alloc_aligned(10, 0), nullptr) << "CAPI-2";
  EXPECT_EQ(errno, EINVAL) << "CAPI-2";
  EXPECT_DEATH(concalloc::AllocAligned(10, 48), "concalloc: ALIGN-2: .* at 0x30")
      << "ALIGN-2";
}

TEST(CApi, FailureIsNullWithErrnoNeverAThrow) {
  errno = 0;
  EXPECT_EQ(concalloc_alloc(std::numeric_limits<std::size_t>::max()), nullptr) << "CAPI-1";
  EXPECT_EQ(errno, ENOMEM) << "CAPI-1";
  void* p = concalloc_alloc(77);
  ASSERT_NE(p, nullptr) << "CAPI-1";
  EXPECT_GE(concalloc_usable_size(p), 77u) << "CAPI-1";
  EXPECT_EQ(concalloc_usable_size(nullptr), 0u) << "USABLE-1";
  concalloc::Free(p);  // C and C++ API blocks are one kind
}

TEST(ConcRT, OriginalSignaturesWork) {
  void* (*alloc)(std::size_t) = &concurrency::Alloc;
  void (*free_fn)(void*) = &Concurrency::Free;
  void* p = alloc(100);
  EXPECT_GE(concalloc::UsableSize(p), 100u) << "CONCRT-1";
  free_fn(p);
  EXPECT_THROW(concurrency::Alloc(std::numeric_limits<std::size_t>::max()), std::bad_alloc)
      << "CONCRT-1";
}

// INLINE-1: the inline forms keep Alloc's and Free's contract and share the
// lists with them, in every build (checked ones take the out-of-line path).
TEST(Inline, SharesTheListsAndTheContract) {
  ScopedDepth depth(32);
  concalloc::FlushThreadCache();
  void* p = concalloc::Alloc(100);
  concalloc::InlineFree(p);
  const concalloc::ThreadStats s0 = concalloc::GetThreadStats();
  void* q = concalloc::InlineAlloc(100);
  EXPECT_EQ(q, p) << "INLINE-1: InlineAlloc pops the block InlineFree pushed (CACHE-2)";
  const concalloc::ThreadStats s1 = concalloc::GetThreadStats();
  EXPECT_EQ(s1.alloc_hits, s0.alloc_hits + 1) << "INLINE-1: an inline hit is counted (INV-STATS)";
  EXPECT_EQ(s1.cached_blocks + 1, s0.cached_blocks) << "INLINE-1: and leaves the list";
  concalloc::Free(q);
  EXPECT_EQ(concalloc::InlineAlloc(100), p) << "INLINE-1: Free and InlineAlloc share the list";
  concalloc::InlineFree(p);
  concalloc::InlineFree(nullptr);  // FREE-1
  void* large = concalloc::InlineAlloc(9000);
  EXPECT_GE(concalloc::UsableSize(large), 9000u) << "INLINE-1: large blocks go out of line";
  concalloc::InlineFree(large);
  concalloc::InlineFree(concalloc::AllocAligned(64, 256));
  EXPECT_THROW(concalloc::InlineAlloc(std::numeric_limits<std::size_t>::max()), std::bad_alloc)
      << "INLINE-1: ALLOC-3";
  const concalloc::ValidationResult r = concalloc::Validate();
  EXPECT_TRUE(r) << "INLINE-1: " << (r ? "" : r.clause);
}

// INLINE-2: inline callers get the thread's live cache from a release
// library only; a checked or tool build keeps it from them.
TEST(Inline, OnlyReleaseBuildsPublishTheCache) {
  concalloc::Free(concalloc::Alloc(16));  // the thread's cache is live
  const concalloc::BuildInfo info = concalloc::GetBuildInfo();
  const bool release = !info.checked && !info.exact_usable_size;
  EXPECT_EQ(concalloc::abi_v4::tl_front != nullptr, release)
      << "INLINE-2: checked " << info.checked << ", exact usable size "
      << info.exact_usable_size;
  std::thread([] {
    EXPECT_EQ(concalloc::abi_v4::tl_front, nullptr) << "INLINE-2: a new thread has no cache yet";
  }).join();
}

// INV-STATS: the pushes are derived from the pops counted in the room words
// (INLINE-3); a pop not counted there leaves fewer blocks pushed than none,
// which Validate reports. Only where the cache is published (INLINE-2).
TEST(Validate, ReportsAPopNotCounted) {
  std::thread([] {
    ScopedDepotBudget no_depot(0);
    // A new thread: no block pushed yet. Allocate until one is a hit (a
    // block CACHE-FILL put on the list at the miss).
    std::vector<void*> blocks;
    const std::uint64_t hits0 = concalloc::GetThreadStats().alloc_hits;
    while (concalloc::GetThreadStats().alloc_hits == hits0 && blocks.size() < 16)
      blocks.push_back(concalloc::Alloc(10));
    concalloc::abi_v4::CacheFront* front = concalloc::abi_v4::tl_front;
    const concalloc::BuildInfo info = concalloc::GetBuildInfo();
    if (front == nullptr) {
      EXPECT_TRUE(info.checked || info.exact_usable_size) << "INLINE-2: release publishes";
    } else {
      ASSERT_EQ(concalloc::GetThreadStats().frees_cached, 0u) << "STATS-1: nothing pushed yet";
      ExpectValid("VALIDATE-1 before");
      const std::size_t cls = concalloc::abi_v4::ClassOfSize(10);
      const std::uint64_t one_pop = std::uint64_t{1} << concalloc::abi_v4::kRoomBits;
      const std::uint64_t word = concalloc::test::PeekWord(&front->room[cls]);
      ASSERT_GE(word, one_pop) << "INLINE-3: the pop is counted in the room word";
      concalloc::test::PokeWord(&front->room[cls], word - one_pop);
      const concalloc::ValidationResult r = concalloc::Validate();
      concalloc::test::PokeWord(&front->room[cls], word);
      ASSERT_FALSE(r) << "VALIDATE-1: a pop not counted";
      EXPECT_STREQ(r.clause, "INV-STATS") << "VALIDATE-1";
      ExpectValid("VALIDATE-1 after repair");
    }
    for (void* p : blocks) concalloc::Free(p);
  }).join();
}

struct alignas(64) OverAligned {
  char bytes[64];
};

TEST(StdAllocator, WorksWithStandardContainers) {
  std::vector<int, concalloc::Allocator<int>> v;
  for (int i = 0; i < 10000; ++i) v.push_back(i);
  EXPECT_EQ(v[9999], 9999) << "STD-ALLOC-1";
  std::map<int, std::string, std::less<int>,
           concalloc::Allocator<std::pair<const int, std::string>>> m;
  for (int i = 0; i < 1000; ++i) m[i] = std::to_string(i);
  EXPECT_EQ(m[500], "500") << "STD-ALLOC-1";
  auto shared = std::allocate_shared<std::string>(concalloc::Allocator<std::string>(), "x");
  EXPECT_EQ(*shared, "x") << "STD-ALLOC-1";
  std::vector<OverAligned, concalloc::Allocator<OverAligned>> over(10);
  EXPECT_TRUE(Aligned(over.data(), 64)) << "STD-ALLOC-1: over-aligned types";
  concalloc::Allocator<OverAligned> a;
  EXPECT_THROW(a.allocate(std::numeric_limits<std::size_t>::max() / 8), std::bad_array_new_length)
      << "STD-ALLOC-1";
  EXPECT_TRUE(concalloc::Allocator<int>() == concalloc::Allocator<char>()) << "STD-ALLOC-1";
}

struct Cached : concalloc::CachedNew {
  int value[10];
};
struct alignas(128) CachedOverAligned : concalloc::CachedNew {
  char bytes[128];
};
struct WithMacro {
  CONCALLOC_CLASS_ALLOCATION()
  double d[3];
};

TEST(ClassNew, EveryFormGoesThroughAllocFree) {
  ScopedDepth depth(32);
  const auto frees = [] { return concalloc::GetThreadStats().frees_cached; };
  std::uint64_t f0 = frees();
  delete new Cached;
  EXPECT_EQ(frees(), f0 + 1) << "CLASSNEW-1: new/delete";
  delete[] new Cached[3];
  EXPECT_EQ(frees(), f0 + 2) << "CLASSNEW-1: new[]/delete[]";
  delete new (std::nothrow) Cached;
  EXPECT_EQ(frees(), f0 + 3) << "CLASSNEW-1: nothrow new";
  delete new WithMacro;
  EXPECT_EQ(frees(), f0 + 4) << "CLASSNEW-1: the macro";
  auto* over = new CachedOverAligned;
  EXPECT_TRUE(Aligned(over, 128)) << "CLASSNEW-1: align_val_t new";
  delete over;
  auto* over_array = new CachedOverAligned[2];
  EXPECT_TRUE(Aligned(over_array, 128)) << "CLASSNEW-1: align_val_t new[]";
  delete[] over_array;
}

TEST(Backend, SetBackendReturnsThePreviousOne) {
  const concalloc::Backend* old = concalloc::SetBackend(&CountingBackend::kBackend);
  EXPECT_EQ(old, &concalloc::DefaultBackend()) << "BACKEND-2";
  EXPECT_EQ(concalloc::SetBackend(nullptr), &CountingBackend::kBackend) << "BACKEND-2";
  EXPECT_EQ(concalloc::SetBackend(nullptr), &concalloc::DefaultBackend()) << "BACKEND-1";
}

}  // namespace

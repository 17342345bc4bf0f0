// The shared depot (DEPOT-*): batches between thread caches, its bound, its
// off switch, trim, fork, and generated multi-threaded scripts checked
// against the global conservation equation (INV-CONSERVE).
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <concalloc/concalloc.h>

#include "test_support.h"

namespace {

using concalloc::test::AnotherLiveCache;
using concalloc::test::CountingBackend;
using concalloc::test::ScopedCountingBackend;
using concalloc::test::ScopedDepotBudget;
using concalloc::test::ScopedDepth;

constexpr std::size_t kBig = std::size_t{8} << 20;

std::vector<void*> AllocN(std::size_t n, std::size_t size) {
  std::vector<void*> v;
  for (std::size_t i = 0; i < n; ++i) v.push_back(concalloc::Alloc(size));
  return v;
}
void FreeAll(const std::vector<void*>& v) {
  for (void* p : v) concalloc::Free(p);
}

// A producer thread allocates `blocks` blocks (block i of size(i)) and hands
// them, through a queue of at most `window`, to a consumer thread that
// frees them. Returns the producer's backend_allocs (STATS-1).
template <class SizeFn>
std::uint64_t HandOff(int blocks, std::size_t window, SizeFn size) {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<void*> queue;
  bool done = false;
  std::uint64_t producer_backend_allocs = 0;
  std::thread consumer([&] {
    for (;;) {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return !queue.empty() || done; });
      if (queue.empty()) return;
      void* p = queue.front();
      queue.pop_front();
      cv.notify_all();
      lock.unlock();
      concalloc::Free(p);
    }
  });
  std::thread producer([&] {
    for (int i = 0; i < blocks; ++i) {
      void* p = concalloc::Alloc(size(i));
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return queue.size() < window; });  // a bounded hand-off
      queue.push_back(p);
      cv.notify_all();
    }
    producer_backend_allocs = concalloc::GetThreadStats().backend_allocs;
    std::lock_guard<std::mutex> lock(mu);
    done = true;
    cv.notify_all();
  });
  producer.join();
  consumer.join();
  return producer_backend_allocs;
}

TEST(Depot, FullListSpillsHalfOfItAsOneBatch) {
  ScopedCountingBackend backend;
  ScopedDepotBudget depot(kBig);
  ScopedDepth depth(4);
  const std::uint64_t out0 = concalloc::GetThreadStats().depot_blocks_out;
  const std::vector<void*> blocks = AllocN(5, 100);
  concalloc::FlushThreadCache();  // what CACHE-FILL cached goes back: the list is empty
  FreeAll(blocks);                // the 5th Free finds the list full
  const concalloc::ThreadStats t = concalloc::GetThreadStats();
  const concalloc::GlobalStats g = concalloc::GetGlobalStats();
  EXPECT_EQ(t.depot_blocks_out - out0, 2u) << "DEPOT-SPILL: max(1, depth / 2) blocks";
  EXPECT_EQ(t.cached_blocks, 3u) << "DEPOT-SPILL: 4 - 2 + 1";
  EXPECT_EQ(g.depot_batches, 1u) << "DEPOT-SPILL: one batch";
  EXPECT_EQ(g.depot_blocks, 2u) << "DEPOT-SPILL";
  // SIZE-1: 100 bytes and the header (HDR-1) in 16-byte steps: 112 or 128.
  const std::size_t cls_bytes = (100 + concalloc::GetBuildInfo().header_bytes + 15) / 16 * 16;
  EXPECT_EQ(g.depot_bytes, 2u * cls_bytes + g.batch_record_bytes)
      << "DEPOT-SPILL: the class of 100 bytes, and the batch's record (DEPOT-BUDGET)";
  EXPECT_EQ(CountingBackend::Outstanding(), 5) << "DEPOT-SPILL: nothing went to the backend";
  EXPECT_TRUE(concalloc::Validate()) << "INV-DEPOT";
}

TEST(Depot, EmptyListTakesABatchBeforeTheBackend) {
  ScopedCountingBackend backend;
  ScopedDepotBudget depot(kBig);
  ScopedDepth depth(4);
  AnotherLiveCache other;
  std::thread([] { FreeAll(AllocN(4, 100)); }).join();  // exit: a batch of 4
  ASSERT_EQ(concalloc::GetGlobalStats().depot_blocks, 4u) << "DEPOT-EXIT";
  const long taken = CountingBackend::Taken();
  const std::uint64_t in0 = concalloc::GetThreadStats().depot_blocks_in;
  const std::uint64_t batches0 = concalloc::GetGlobalStats().batches_taken;
  std::vector<void*> v = AllocN(4, 100);
  EXPECT_EQ(CountingBackend::Taken(), taken) << "DEPOT-REFILL: no backend call";
  EXPECT_EQ(concalloc::GetThreadStats().depot_blocks_in - in0, 4u) << "DEPOT-REFILL";
  EXPECT_EQ(concalloc::GetGlobalStats().batches_taken - batches0, 1u) << "DEPOT-REFILL: one batch";
  EXPECT_EQ(concalloc::GetGlobalStats().depot_blocks, 0u) << "DEPOT-REFILL";
  FreeAll(v);
  EXPECT_TRUE(concalloc::Validate()) << "INV-DEPOT";
}

// Alloc(size) on an empty list that refills from the depot's one batch:
// the blocks the cache took (depot_blocks_in), what it then holds, and what
// the depot kept.
void ExpectRefill(std::size_t size, std::uint64_t taken, std::uint64_t held, std::uint64_t kept,
                  const char* what) {
  const std::uint64_t in0 = concalloc::GetThreadStats().depot_blocks_in;
  void* p = concalloc::Alloc(size);
  const concalloc::ThreadStats t = concalloc::GetThreadStats();
  EXPECT_EQ(t.depot_blocks_in - in0, taken) << "DEPOT-REFILL: " << what;
  EXPECT_EQ(t.cached_blocks, held) << "DEPOT-XFER: " << what;
  EXPECT_EQ(concalloc::GetGlobalStats().depot_blocks, kept) << "DEPOT-XFER: " << what;
  EXPECT_TRUE(concalloc::Validate()) << "INV-CACHE-BOUND, INV-SPARE, INV-DEPOT";
  concalloc::Free(p);
}

// DEPOT-REFILL, DEPOT-XFER: a batch longer than the list's room (made by a
// thread with a larger depth): the list takes its room, the spare the rest.
TEST(Depot, ABatchLongerThanTheListIsCut) {
  ScopedCountingBackend backend;
  ScopedDepotBudget depot(kBig);
  ScopedDepth depth(8);
  AnotherLiveCache other;
  std::thread([] {  // a batch of 8 (what CACHE-FILL cached first goes back)
    const std::vector<void*> mine = AllocN(8, 40);
    concalloc::FlushThreadCache();
    FreeAll(mine);
  }).join();
  concalloc::SetCacheDepth(3);
  concalloc::FlushThreadCache();  // this thread's lists now hold 3
  ExpectRefill(40, 8, 2 + 5, 0, "the whole batch: 3 on the list (one popped), 5 in the spare");
}

// DEPOT-XFER: what is left of a batch past the list's room and SpareLimit
// goes back to the depot. Blocks of 8000 bytes: with the depot on a list
// holds 2 and a spare 4; a thread made while the depot was off holds 8.
TEST(Depot, ABatchLongerThanTheListAndTheSpareGoesBackInPart) {
  ScopedCountingBackend backend;
  ScopedDepth depth(8);
  AnotherLiveCache other;
  ScopedDepotBudget depot(0);  // restored, the depot trimmed, at the end
  std::thread([] {
    const std::vector<void*> mine = AllocN(8, 8000);
    concalloc::FlushThreadCache();
    FreeAll(mine);  // a list of 8: the depot is off
    concalloc::SetDepotBudget(kBig);
  }).join();  // DEPOT-EXIT: a batch of 8
  ASSERT_EQ(concalloc::GetGlobalStats().depot_blocks, 8u) << "DEPOT-EXIT";
  concalloc::FlushThreadCache();  // this thread's lists: 2 blocks of 8192 bytes
  ExpectRefill(8000, 6, 1 + 4, 2, "the list's 2 and the spare's 4 (SpareLimit); 2 went back");
}

// DEPOT-XFER: a thread that only frees a class (a consumer), with no taker,
// sends it to the depot in batches of one spill (2 blocks) until its shard
// holds two, then of 4, 8, ... up to XferMax (256 blocks of 128 bytes):
// 129 spills make 9 batches (2+2+2+4+8+16+32+64+128), one put each; the
// two spills after them wait in the spare for a batch of 256.
TEST(Depot, ASteadyOneWayFlowGrowsTheTransferUnit) {
  ScopedCountingBackend backend;
  ScopedDepotBudget depot(kBig);
  ScopedDepth depth(4);
  AnotherLiveCache other;
  const std::vector<void*> v = AllocN(4 + 2 * 131, 100);
  concalloc::FlushThreadCache();
  const concalloc::GlobalStats g0 = concalloc::GetGlobalStats();
  // 4 fill the list, then a spill at every second Free; after 27 Frees the
  // spare holds a spill of a transfer unit below ListedMin: not listed, its
  // segments marked (DEPOT-SEGMENT), which Validate checks.
  FreeAll(std::vector<void*>(v.begin(), v.begin() + 27));
  EXPECT_TRUE(concalloc::Validate()) << "INV-SPARE (segments, before the spares are listed)";
  FreeAll(std::vector<void*>(v.begin() + 27, v.end()));
  const concalloc::GlobalStats g = concalloc::GetGlobalStats();
  EXPECT_EQ(g.batches_put - g0.batches_put, 9u) << "DEPOT-XFER: 2+2+2+4+8+16+32+64+128 blocks";
  EXPECT_EQ(g.depot_blocks - g0.depot_blocks, 258u) << "DEPOT-XFER: 129 spills reached the depot";
  // DEPOT-COUNTS: a put takes its shard's lock once, twice when the shard
  // has no record for the batch yet (it gets one with the lock released).
  EXPECT_LE(g.lock_acquisitions - g0.lock_acquisitions, 2u * 9u) << "DEPOT-XFER: locks per batch";
  EXPECT_EQ(concalloc::GetThreadStats().cached_blocks, 4u + 4u)
      << "DEPOT-XFER: the list, and two spills in the spare (below xfer, 256)";
  EXPECT_TRUE(concalloc::Validate()) << "INV-CACHE-BOUND, INV-SPARE";
  concalloc::FlushThreadCache();
  EXPECT_EQ(concalloc::GetThreadStats().cached_blocks, 0u) << "FLUSH-1: the spare too";
  concalloc::Trim();
  EXPECT_EQ(CountingBackend::Outstanding(), 0) << "INV-CONSERVE: DEPOT-TRIM, FLUSH-1";
}

// DEPOT-XFER: an empty list refills from its spare before the depot; a
// thread that takes a batch from the depot starts its transfers small again.
TEST(Depot, TheSpareRefillsTheListAndATakeResetsTheTransferUnit) {
  ScopedCountingBackend backend;
  ScopedDepotBudget depot(kBig);
  ScopedDepth depth(4);
  AnotherLiveCache other;
  std::vector<void*> v = AllocN(12, 100);
  concalloc::FlushThreadCache();
  // spills: v3 v2, v5 v4 (batches of one spill: the shard held fewer than
  // two), v7 v6 (a batch; the shard held two: xfer 2 -> 4), v9 v8 (stays in
  // the spare, below 4); the list holds v0 v1 v10 v11
  FreeAll(v);
  ASSERT_EQ(concalloc::GetThreadStats().cached_blocks, 6u) << "DEPOT-XFER: list 4, spare 2";
  const concalloc::GlobalStats g0 = concalloc::GetGlobalStats();
  for (int k : {11, 10, 1, 0}) EXPECT_EQ(concalloc::Alloc(100), v[k]) << "CACHE-2";
  EXPECT_EQ(concalloc::Alloc(100), v[9]) << "DEPOT-XFER: the spare refills the list";
  EXPECT_EQ(concalloc::Alloc(100), v[8]) << "DEPOT-XFER";
  EXPECT_EQ(concalloc::GetGlobalStats().batches_taken, g0.batches_taken)
      << "DEPOT-XFER: no depot lock for the spare";
  EXPECT_EQ(concalloc::Alloc(100), v[7]) << "DEPOT-TAKE: the newest batch, v7 v6";
  EXPECT_EQ(concalloc::GetGlobalStats().batches_taken, g0.batches_taken + 1) << "DEPOT-TAKE";
  for (int k : {6, 5, 4}) EXPECT_EQ(concalloc::Alloc(100), v[k]) << "DEPOT-TAKE: then v5 v4";
  // The take reset the transfer: the next spill goes to the depot at once.
  for (int k : {11, 10, 9, 8, 7}) concalloc::Free(v[k]);
  EXPECT_EQ(concalloc::GetGlobalStats().batches_put, g0.batches_put + 1)
      << "DEPOT-XFER: a take starts the transfers at one spill again";
  EXPECT_TRUE(concalloc::Validate()) << "INV-SPARE";
  for (int k : {6, 5, 4, 1, 0}) concalloc::Free(v[k]);
  concalloc::FlushThreadCache();
  concalloc::Trim();
  EXPECT_EQ(CountingBackend::Outstanding(), 0) << "INV-CONSERVE";
}

// DEPOT-EXIT, DEPOT-XFER: a thread's spares go to the depot when it exits.
TEST(Depot, AnExitingThreadsSpareGoesToTheDepot) {
  ScopedCountingBackend backend;
  ScopedDepotBudget depot(kBig);
  ScopedDepth depth(4);
  AnotherLiveCache other;
  std::thread([] {
    const std::vector<void*> mine = AllocN(12, 100);
    concalloc::FlushThreadCache();
    FreeAll(mine);  // list 4, spare 2, depot 2 + 2 + 2 (as above)
    ASSERT_EQ(concalloc::GetThreadStats().cached_blocks, 6u) << "DEPOT-XFER";
  }).join();
  EXPECT_EQ(concalloc::GetGlobalStats().depot_blocks, 12u)
      << "INV-CONSERVE: DEPOT-EXIT drains the list and the spare";
  concalloc::Trim();
  EXPECT_EQ(CountingBackend::Outstanding(), 0) << "INV-CONSERVE: DEPOT-EXIT, DEPOT-TRIM";
}

// DEPOT-LISTED, INV-LISTED: a thread alone that frees thousands of blocks
// of a class grows its transfer unit (DEPOT-XFER) until its spares are
// listed: Validate checks each list against its chain, in the spare and in
// the depot; its allocations then take those batches back, cut by index,
// and prefetch every block listed.
TEST(Depot, AThreadAlonesSparesAreListedAndItsTakesPrefetchThem) {
  ScopedCountingBackend backend;
  ScopedDepotBudget depot(kBig);
  concalloc::FlushThreadCache();
  const concalloc::GlobalStats g0 = concalloc::GetGlobalStats();
  std::vector<void*> blocks = AllocN(3000, 64);
  for (std::size_t k = 0; k < blocks.size(); ++k) {
    concalloc::Free(blocks[k]);
    if (k == 2900 || k == 2990) {  // a listed spare part full, and batches
      const concalloc::ValidationResult v = concalloc::Validate();
      EXPECT_TRUE(v) << (v.clause != nullptr ? v.clause : "") << ": "
                     << (v.reason != nullptr ? v.reason : "") << " (INV-LISTED)";
    }
  }
  const concalloc::GlobalStats g1 = concalloc::GetGlobalStats();
  ASSERT_GT(g1.depot_blocks - g0.depot_blocks, 2000u) << "DEPOT-SPILL: the frees went to the depot";
  blocks = AllocN(3000, 64);
  const concalloc::GlobalStats g2 = concalloc::GetGlobalStats();
  EXPECT_GE(g2.blocks_prefetched - g1.blocks_prefetched, 1000u)
      << "DEPOT-LISTED: the thread's own listed batches are prefetched when taken back";
  const concalloc::ValidationResult v = concalloc::Validate();
  EXPECT_TRUE(v) << (v.clause != nullptr ? v.clause : "") << ": "
                 << (v.reason != nullptr ? v.reason : "") << " (INV-LISTED, after the takes)";
  FreeAll(blocks);
  concalloc::FlushThreadCache();
  concalloc::Trim();
  EXPECT_EQ(CountingBackend::Outstanding(), 0) << "INV-CONSERVE: lists and records go back too";
}

// DEPOT-LISTED, INV-LISTED: a thread's list, put into the depot as the
// thread exits (its blocks in that thread's cache), goes with the addresses
// of its blocks; Validate checks them against the chain, and the thread
// that takes the batch prefetches every block listed.
TEST(Depot, AHotBatchIsListedAndItsTakerPrefetchesIt) {
  ScopedCountingBackend backend;
  ScopedDepotBudget depot(kBig);
  ScopedDepth depth(256);  // a list of 64-byte blocks holds up to 204
  AnotherLiveCache other;  // the worker's exit is not the last (DEPOT-QUIET)
  concalloc::FlushThreadCache();
  const concalloc::GlobalStats g0 = concalloc::GetGlobalStats();
  std::thread([] {
    const std::vector<void*> mine = AllocN(150, 64);
    concalloc::FlushThreadCache();
    FreeAll(mine);  // 150 on the list: one batch at the exit (DEPOT-EXIT)
  }).join();
  const concalloc::GlobalStats g1 = concalloc::GetGlobalStats();
  ASSERT_EQ(g1.depot_blocks - g0.depot_blocks, 150u) << "DEPOT-EXIT: the list as one batch";
  const concalloc::ValidationResult v = concalloc::Validate();
  EXPECT_TRUE(v) << (v.clause != nullptr ? v.clause : "") << ": "
                 << (v.reason != nullptr ? v.reason : "") << " (INV-LISTED)";
  const std::vector<void*> taken = AllocN(150, 64);  // the refill takes the batch
  const concalloc::GlobalStats g2 = concalloc::GetGlobalStats();
  EXPECT_EQ(g2.blocks_prefetched - g1.blocks_prefetched, 150u)
      << "DEPOT-LISTED: the taker prefetches every block of a listed batch";
  FreeAll(taken);
  concalloc::Trim();
  EXPECT_EQ(CountingBackend::Outstanding(), 0) << "INV-CONSERVE: lists and records go back too";
}

// A producer hands `per_round` blocks of 64 bytes at a time to a consumer,
// which frees them, `rounds` times (the producer calls `after_round`, if
// any, after each, with the round's number); returns the process's statistics as the producer saw
// them after its last round (before the threads' exits, DEPOT-QUIET).
concalloc::GlobalStats HandOverInRounds(int rounds, int per_round,
                                        void (*after_round)(int) = nullptr) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<void*> handed;
  int round = 0;  // rounds the consumer has freed
  concalloc::GlobalStats during{};
  std::thread consumer([&] {
    for (int r = 0; r < rounds; ++r) {
      std::vector<void*> mine;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return !handed.empty(); });
        mine.swap(handed);
      }
      for (void* p : mine) concalloc::Free(p);
      std::lock_guard<std::mutex> lock(mu);
      round = r + 1;
      cv.notify_all();
    }
  });
  std::thread producer([&] {
    for (int r = 0; r < rounds; ++r) {
      std::vector<void*> batch(static_cast<std::size_t>(per_round));
      for (void*& p : batch) p = concalloc::Alloc(64);
      std::unique_lock<std::mutex> lock(mu);
      handed = std::move(batch);
      cv.notify_all();
      cv.wait(lock, [&] { return round == r + 1; });
      if (after_round != nullptr) {
        lock.unlock();
        after_round(r);
      }
    }
    during = concalloc::GetGlobalStats();
  });
  producer.join();
  consumer.join();
  return during;
}

// DEPOT-GROW: a producer hands 4096 blocks at a time to a consumer, through
// a depot whose budget holds a tenth of them: the consumer's puts evict, and
// then the producer finds the depot empty; the budget in force doubles, at
// most three times, and Trim sets it back.
TEST(Depot, AFlowBetweenThreadsThatOutgrowsTheBudgetDoublesIt) {
  constexpr std::size_t kBudget = 32 * 1024;
  ScopedDepotBudget depot(kBudget);
  ScopedDepth depth(32);
  const std::uint64_t growths0 = concalloc::GetGlobalStats().depot_budget_growths;
  const concalloc::GlobalStats during = HandOverInRounds(12, 4096);
  EXPECT_GE(during.depot_budget_growths - growths0, 1u)
      << "DEPOT-GROW: the producer found empty a depot the consumer had evicted from";
  EXPECT_GT(during.depot_budget, kBudget) << "DEPOT-GROW: the budget in force grew";
  EXPECT_LE(during.depot_budget, 8 * kBudget) << "DEPOT-GROW: at most 8 times the budget set";
  EXPECT_LE(during.depot_bytes, during.depot_budget) << "INV-DEPOT-BOUND";
  concalloc::Trim();
  EXPECT_EQ(concalloc::GetGlobalStats().depot_budget, kBudget) << "DEPOT-GROW: Trim sets it back";
}

// INV-DEPOT-BOUND under Trim: the flow above grows the budget in force
// while another thread trims (which sets the budget back before it empties
// the depot) and a third validates all along. Validate must not report the
// bound broken while a trim is on its way down to the budget: seen failing
// (Validate false 31 times in Threads.BlocksFreedOnOtherThreadsUnderLoad,
// DEPOT-QUIET's trim at a thread's exit) before the check knew of trims.
TEST(Depot, ValidateHoldsWhileTrimSetsAGrownBudgetBack) {
  constexpr std::size_t kBudget = 32 * 1024;
  ScopedDepotBudget depot(kBudget);
  ScopedDepth depth(32);
  std::atomic<bool> done{false};
  std::atomic<long> validations{0};
  std::string failure;  // the first, written by the validator alone
  const std::uint64_t growths0 = concalloc::GetGlobalStats().depot_budget_growths;
  std::thread validator([&] {
    while (!done.load()) {
      const concalloc::ValidationResult v = concalloc::Validate();
      validations.fetch_add(1);
      if (!v && failure.empty()) failure = std::string(v.clause) + ": " + v.reason;
    }
  });
  // Two rounds at a time: in the first the consumer's puts evict, in the
  // second the producer finds the depot empty (the budget grows) and the
  // consumer fills it; then the producer's Trim sets the budget back while
  // the validator walks.
  HandOverInRounds(200, 4096, [](int r) {
    if (r % 2 == 1) concalloc::Trim();
  });
  done = true;
  validator.join();
  const concalloc::GlobalStats g = concalloc::GetGlobalStats();
  EXPECT_GE(g.depot_budget_growths - growths0, 50u) << "DEPOT-GROW: the flow grew the budget";
  EXPECT_GT(validations.load(), 0);
  EXPECT_EQ(failure, "") << "INV-DEPOT-BOUND: Validate while Trim sets the budget back";
}

// DEPOT-GROW: "another thread" is another thread, not another address. A
// thread's frees outgrow the depot (it gives batches back) and it exits;
// the next thread's cache is made in the memory the C heap got back from
// the first one's, and it finds the depot empty after taking what the
// first left: a flow between two threads, so the budget grows. Seen
// failing before the clients had serials: the new cache, at the old one's
// address, was taken for the thread that had given back.
TEST(Depot, AThreadWhoseCacheReusesAnExitedOnesMemoryIsAnotherThread) {
  constexpr std::size_t kBudget = 32 * 1024;
  ScopedDepotBudget depot(kBudget);
  ScopedDepth depth(32);
  // Two other live caches (this thread's and a keeper's): the first
  // thread's exit is not DEPOT-QUIET's, which would set the budget back.
  concalloc::Free(concalloc::Alloc(64));
  std::mutex mu;
  std::condition_variable cv;
  bool release = false, ready = false;
  std::thread keeper([&] {
    concalloc::Free(concalloc::Alloc(64));
    std::unique_lock<std::mutex> lock(mu);
    ready = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return ready; });
  }
  const concalloc::GlobalStats g0 = concalloc::GetGlobalStats();
  std::thread([] { FreeAll(AllocN(4096, 64)); }).join();
  const concalloc::GlobalStats g1 = concalloc::GetGlobalStats();
  std::thread([] { FreeAll(AllocN(4096, 64)); }).join();
  const concalloc::GlobalStats g2 = concalloc::GetGlobalStats();
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  keeper.join();
  EXPECT_GT(g1.batches_evicted, g0.batches_evicted) << "DEPOT-EVICT: the first thread's frees outgrew the depot";
  EXPECT_EQ(g1.depot_budget_growths, g0.depot_budget_growths) << "DEPOT-GROW: nothing grew it yet";
  EXPECT_GT(g2.depot_budget_growths, g1.depot_budget_growths)
      << "DEPOT-GROW: the second thread found the depot empty after the first gave back";
  concalloc::Trim();
}

// DEPOT-GROW: a thread alone that frees more than the depot holds, then
// allocates it again, finds the depot empty after its own evictions: the
// depot is its second cache level, and the budget stays.
TEST(Depot, AThreadAloneNeverGrowsTheBudget) {
  constexpr std::size_t kBudget = 32 * 1024;
  ScopedDepotBudget depot(kBudget);  // also forgets other threads' evictions
  ScopedDepth depth(32);
  const std::uint64_t growths0 = concalloc::GetGlobalStats().depot_budget_growths;
  for (int r = 0; r < 3; ++r) FreeAll(AllocN(4096, 64));
  const concalloc::GlobalStats g = concalloc::GetGlobalStats();
  EXPECT_GT(g.batches_evicted, 0u) << "DEPOT-EVICT: the frees outgrew the depot";
  EXPECT_EQ(g.depot_budget_growths, growths0) << "DEPOT-GROW: its own evictions never grow it";
  EXPECT_EQ(g.depot_budget, kBudget) << "DEPOT-GROW";
  concalloc::FlushThreadCache();
}

// The bytes a batch of n blocks of 128 bytes costs the budget.
std::size_t BatchOf128(std::size_t n) {
  return n * 128 + concalloc::GetGlobalStats().batch_record_bytes;
}

TEST(Depot, BudgetBoundsTheDepotAndRefusedBatchesGoToTheBackend) {
  ScopedCountingBackend backend;
  ScopedDepotBudget depot(BatchOf128(2) + 100);  // room for one batch of two
  ScopedDepth depth(4);
  const concalloc::GlobalStats g0 = concalloc::GetGlobalStats();
  const std::uint64_t flushed0 = concalloc::GetThreadStats().flushed_blocks;
  std::vector<void*> v = AllocN(12, 100);
  FreeAll(v);  // spills at the 5th, 7th, 9th and 11th Free
  const concalloc::GlobalStats g = concalloc::GetGlobalStats();
  EXPECT_LE(g.depot_bytes, g.depot_budget) << "INV-DEPOT-BOUND";
  EXPECT_EQ(g.depot_batches, 1u) << "DEPOT-BUDGET";
  EXPECT_EQ(g.batches_evicted - g0.batches_evicted, 3u)
      << "DEPOT-EVICT: each new batch made room by giving the older one back";
  EXPECT_EQ(g.batches_refused - g0.batches_refused, 0u) << "DEPOT-EVICT: none refused";
  EXPECT_EQ(concalloc::GetThreadStats().flushed_blocks - flushed0, 0u)
      << "DEPOT-EVICT: the evicted batches left from the depot, not the list";
  EXPECT_EQ(CountingBackend::Outstanding(), 6) << "DEPOT-BUDGET: 4 cached + 2 in the depot";
}

// DEPOT-EVICT: what the depot gives back to make room is its oldest batch;
// the newest stays, and is what the next refill takes.
TEST(Depot, AFullDepotGivesBackItsOldestBatch) {
  ScopedCountingBackend backend;
  ScopedDepotBudget depot(2 * BatchOf128(2) + 100);  // room for two batches of two
  ScopedDepth depth(4);
  std::vector<void*> v = AllocN(12, 100);
  concalloc::FlushThreadCache();
  FreeAll(v);  // spills v3 v2, then v5 v4, then v7 v6 (v3 v2 evicted), then v9 v8
  const concalloc::GlobalStats g = concalloc::GetGlobalStats();
  ASSERT_EQ(g.depot_batches, 2u) << "DEPOT-BUDGET";
  concalloc::FlushThreadCache();  // the list empty: the next Alloc refills
  EXPECT_EQ(concalloc::Alloc(100), v[9]) << "DEPOT-TAKE: the newest batch (v9 v8)";
  EXPECT_EQ(concalloc::Alloc(100), v[8]) << "DEPOT-TAKE";
  EXPECT_EQ(concalloc::Alloc(100), v[7])
      << "DEPOT-EVICT: the second newest (v7 v6) was kept; the oldest went back";
  EXPECT_EQ(concalloc::Alloc(100), v[6]) << "DEPOT-EVICT";
  concalloc::Free(v[9]);
  concalloc::Free(v[8]);
  concalloc::Free(v[7]);
  concalloc::Free(v[6]);
}

// INV-DEPOT-BOUND: a lower budget gives back the oldest batches at once.
TEST(Depot, LoweringTheBudgetGivesBackTheOldestBatches) {
  ScopedCountingBackend backend;
  // Room for four batches of two, too little for a batch of four to grow
  // into (DEPOT-XFER: an eighth of the budget): every spill is a batch.
  ScopedDepotBudget depot(4 * BatchOf128(2) + 100);
  ScopedDepth depth(4);
  std::vector<void*> v = AllocN(12, 100);
  concalloc::FlushThreadCache();
  FreeAll(v);  // four batches of two: v3 v2, v5 v4, v7 v6, v9 v8
  ASSERT_EQ(concalloc::GetGlobalStats().depot_batches, 4u);
  ASSERT_TRUE(concalloc::SetDepotBudget(2 * BatchOf128(2)));
  const concalloc::GlobalStats g = concalloc::GetGlobalStats();
  EXPECT_LE(g.depot_bytes, g.depot_budget) << "INV-DEPOT-BOUND: the lower budget holds";
  EXPECT_EQ(g.depot_batches, 2u) << "INV-DEPOT-BOUND";
  EXPECT_TRUE(concalloc::Validate()) << "INV-DEPOT-BOUND";
  concalloc::FlushThreadCache();
  EXPECT_EQ(concalloc::Alloc(100), v[9]) << "DEPOT-EVICT: the newest batches stayed";
  concalloc::Free(v[9]);
}

// DEPOT-BUDGET: the budget, and nothing else, bounds what the depot holds:
// 3000 batches fit a budget that has room for them. Each is the list of two
// blocks of a thread that only frees them, put when it exits (DEPOT-EXIT).
TEST(Depot, OnlyTheBudgetBoundsTheDepot) {
  ScopedCountingBackend backend;
  ScopedDepotBudget depot(kBig);
  ScopedDepth depth(2);
  AnotherLiveCache other;  // no exit here is the last worker's (DEPOT-QUIET)
  const std::uint64_t refused0 = concalloc::GetGlobalStats().batches_refused;
  const std::uint64_t batches0 = concalloc::GetGlobalStats().depot_batches;
  constexpr std::size_t kBatches = 3000;
  const std::vector<void*> v = AllocN(2 * kBatches, 100);
  for (std::size_t k = 0; k < kBatches; ++k)
    std::thread([&v, k] {
      concalloc::Free(v[2 * k]);
      concalloc::Free(v[2 * k + 1]);
    }).join();
  const concalloc::GlobalStats g = concalloc::GetGlobalStats();
  EXPECT_EQ(g.depot_batches - batches0, kBatches) << "DEPOT-BUDGET: no slot count refuses a batch";
  EXPECT_EQ(g.batches_refused - refused0, 0u) << "DEPOT-BUDGET";
  EXPECT_TRUE(concalloc::Validate()) << "INV-DEPOT";
  concalloc::FlushThreadCache();
  concalloc::Trim();
  EXPECT_EQ(CountingBackend::Outstanding(), 0) << "DEPOT-TRIM: every batch";
}

// DEPOT-QUIET: when the last of several workers exits (the process is down
// to the test's own thread), the depot gives back what they left in it,
// oldest first, until it is empty.
TEST(Depot, TheLastWorkersExitTrimsTheDepot) {
  ScopedCountingBackend backend;
  ScopedDepotBudget depot(kBig);
  ScopedDepth depth(32);
  concalloc::Free(concalloc::Alloc(1));  // this thread has a cache
  constexpr std::size_t kWorkersLeft = 1024 * 1024;
  std::atomic<int> allocated{0}, freed{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t)
    workers.emplace_back([&] {
      const std::vector<void*> mine = AllocN(3000, 100);
      allocated.fetch_add(1);
      while (allocated.load() != 4) std::this_thread::yield();
      FreeAll(mine);  // spills: ~370 KiB into the depot each
      freed.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
    });
  while (freed.load() != 4) std::this_thread::yield();
  const concalloc::GlobalStats g0 = concalloc::GetGlobalStats();
  go = true;
  for (std::thread& t : workers) t.join();
  EXPECT_GT(g0.depot_bytes, kWorkersLeft)
      << "DEPOT-QUIET: the workers' spills are in the depot while they live";
  const std::uint64_t trimmed0 = g0.blocks_trimmed;
  const concalloc::GlobalStats g = concalloc::GetGlobalStats();
  EXPECT_EQ(g.depot_bytes, 0u) << "DEPOT-QUIET: the depot is empty after the last exit";
  EXPECT_GT(g.blocks_trimmed, trimmed0) << "DEPOT-QUIET: given back, and counted";
  EXPECT_TRUE(concalloc::Validate()) << "INV-DEPOT";
}

// DEPOT-COUNTS: moving blocks between threads costs few writes to shared
// lines: at most one shard lock per 8 blocks moved (batches of 16 at the
// default depth), at most one atomic RMW of the budget per 4, nothing
// refused while under the budget. A producer/consumer of one class, and a
// hand-off of 40 classes.
TEST(Depot, MovingBlocksCostsFewSharedWrites) {
  ScopedDepotBudget depot(kBig);
  ScopedDepth depth(32);
  for (const bool many_classes : {false, true}) {
    const concalloc::GlobalStats g0 = concalloc::GetGlobalStats();
    constexpr int kBlocks = 40000;
    HandOff(kBlocks, 256, [&](int i) {
      return many_classes ? static_cast<std::size_t>(16 * (i % 40) + 8) : std::size_t{64};
    });
    const concalloc::GlobalStats g = concalloc::GetGlobalStats();
    const std::uint64_t moved = g.blocks_moved - g0.blocks_moved;
    const std::uint64_t locks = g.lock_acquisitions - g0.lock_acquisitions;
    const std::uint64_t rmws = g.budget_rmws - g0.budget_rmws;
    const std::string what = many_classes ? " (40 classes)" : " (one class)";
    ASSERT_GT(moved, static_cast<std::uint64_t>(kBlocks)) << "DEPOT-COUNTS: blocks went through" << what;
    EXPECT_LE(locks * 8, moved) << "DEPOT-COUNTS: shard locks per block moved" << what;
    EXPECT_LE(rmws * 4, moved) << "DEPOT-COUNTS: budget RMWs per block moved" << what;
    EXPECT_EQ(g.batches_refused, g0.batches_refused) << "DEPOT-COUNTS: none refused" << what;
  }
}

// DEPOT-COUNTS, DEPOT-XFER: the xmalloc-test shape (a producer allocates
// batches of 4096 blocks of 64 bytes, a consumer frees them), in lock-step
// (the producer makes the next batch once the consumer has freed the last)
// so that the counts do not depend on timing: each burst of frees backs up
// in the depot, the transfer units grow to XferMax, and the depot takes at
// most one lock per 160 blocks moved (10x below the 0.063 locks per block
// of fixed half-list batches; 1 per 239 measured), and one RMW of the budget
// per 1000 (DEPOT-CREDIT; one per batch, 1 per 246, without credits). (Overlapped, a fast build backs up too; a checked
// build's slower frees may not.)
TEST(Depot, ABatchFlowBetweenTwoThreadsTakesALockPer160Blocks) {
  // DEPOT-CREDIT's chunk shrinks with the shards a process has used (all
  // 384 when the whole suite runs in one process): a budget of 256 MiB
  // keeps it above a round's 320 KiB however many the tests before used.
  ScopedDepotBudget depot(std::size_t{256} << 20);
  ScopedDepth depth(32);
  constexpr int kBatches = 24, kPerBatch = 4096;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::vector<void*>> queue;
  int freed = 0;  // batches the consumer has freed
  bool done = false;
  const concalloc::GlobalStats g0 = concalloc::GetGlobalStats();
  std::thread consumer([&] {
    for (;;) {
      std::vector<void*> batch;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return !queue.empty() || done; });
        if (queue.empty()) return;
        batch = std::move(queue.front());
        queue.pop_front();
        cv.notify_all();
      }
      for (void* p : batch) concalloc::Free(p);
      std::lock_guard<std::mutex> lock(mu);
      freed += 1;
      cv.notify_all();
    }
  });
  std::thread producer([&] {
    for (int b = 0; b < kBatches; ++b) {
      std::vector<void*> batch(kPerBatch);
      for (void*& p : batch) p = concalloc::Alloc(64);
      std::unique_lock<std::mutex> lock(mu);
      queue.push_back(std::move(batch));
      cv.notify_all();
      cv.wait(lock, [&] { return freed == b + 1; });
    }
    std::lock_guard<std::mutex> lock(mu);
    done = true;
    cv.notify_all();
  });
  producer.join();
  consumer.join();
  const concalloc::GlobalStats g = concalloc::GetGlobalStats();
  const std::uint64_t moved = g.blocks_moved - g0.blocks_moved;
  const std::uint64_t locks = g.lock_acquisitions - g0.lock_acquisitions;
  const std::uint64_t rmws = g.budget_rmws - g0.budget_rmws;
  ASSERT_GT(moved, static_cast<std::uint64_t>(kBatches * kPerBatch))
      << "DEPOT-COUNTS: the blocks went through the depot";
  EXPECT_LE(locks * 160, moved) << "DEPOT-XFER: shard locks per block moved: " << locks << " for "
                                << moved;
  EXPECT_LE(rmws * 1000, moved) << "DEPOT-CREDIT: budget RMWs per block moved: " << rmws << " for "
                               << moved;
  const std::uint64_t prefetched = g.blocks_prefetched - g0.blocks_prefetched;
  EXPECT_GE(prefetched * 4, moved) << "DEPOT-LISTED: of " << moved / 2
                                   << " blocks taken, the listed ones: " << prefetched;
  EXPECT_TRUE(concalloc::Validate()) << "INV-SPARE, INV-DEPOT";
}

// DEPOT-CREDIT, INV-DEPOT-BOUND: a flow through the depot leaves credits in
// its shards (bytes reserved for their next batches), and what the shards
// hold, batches and credits, is the depot's reservation: checked by
// Validate after the flow, and after Trim. Which shard settles a credit
// when depends on how the two threads interleave (a flow whose taker keeps
// up leaves little credit): the flow runs up to three times, each checked,
// so that mutant credit_lost is caught even when one flow settles nothing
// (it escaped one run in about 30 under load).
TEST(Depot, TheShardsBatchesAndCreditsAreTheReservation) {
  ScopedDepotBudget depot(256 << 10);  // a chunk of 4 KiB: credits settle often
  AnotherLiveCache other;              // DEPOT-QUIET stays out of it
  bool held = true;
  for (int round = 0; round < 3 && held; ++round) {
    HandOff(20000, 256,
            [](int i) { return std::size_t{64} + 16 * static_cast<std::size_t>(i % 3); });
    const concalloc::ValidationResult after = concalloc::Validate();
    held = static_cast<bool>(after);
    EXPECT_TRUE(after) << "INV-DEPOT-BOUND after flow " << round + 1 << ": "
                       << (after ? "" : after.reason);
  }
  concalloc::Trim();
  const concalloc::ValidationResult r = concalloc::Validate();
  EXPECT_TRUE(r) << "INV-DEPOT-BOUND after Trim: " << (r ? "" : r.reason);
  EXPECT_EQ(concalloc::GetGlobalStats().depot_bytes, 0u) << "DEPOT-TRIM";
}

// DEPOT-CREDIT: the credit shards keep never refuses a batch: a put that
// finds the budget full and has nothing of its own to evict collects the
// other shards' credits first. 48 classes leave credit in their shards and
// no batch (at depth 2: spills of one block, each a batch put; each miss a
// take); a second thread fills the rest of the budget with batches of 16
// bytes, until it evicts (so less than its last batch, 4 KiB, is left);
// then a third thread's first batch, 4 blocks of 2 KiB into its own empty
// shard, is accepted.
TEST(Depot, CreditsHeldByOtherShardsDoNotRefuseABatch) {
  ScopedDepotBudget depot(1 << 20);
  ScopedDepth depth(2);
  AnotherLiveCache other;
  std::vector<void*> live;
  for (std::size_t k = 0; k < 48; ++k) {
    const std::size_t size = k < 32 ? 16 * (k + 1) : 544 + 32 * (k - 32);  // 48 classes
    FreeAll(AllocN(6, size));                           // batches put
    for (void* p : AllocN(6, size)) live.push_back(p);  // and taken back
  }
  std::thread([] { FreeAll(AllocN(40000, 16)); }).join();  // 1.8 MiB: the budget is full
  const concalloc::GlobalStats g0 = concalloc::GetGlobalStats();
  ASSERT_GT(g0.batches_evicted, 0u) << "the second thread filled the budget";
  concalloc::SetCacheDepth(32);  // the third thread's list holds 8, spills 4
  std::thread([] { FreeAll(AllocN(13, 2048)); }).join();
  const concalloc::GlobalStats g = concalloc::GetGlobalStats();
  EXPECT_EQ(g.batches_refused - g0.batches_refused, 0u)
      << "DEPOT-CREDIT: a batch refused while the budget was held by credits";
  EXPECT_GT(g.batches_put - g0.batches_put, 0u) << "DEPOT-CREDIT: the batch was put";
  const concalloc::ValidationResult r = concalloc::Validate();
  EXPECT_TRUE(r) << "INV-DEPOT-BOUND: " << (r ? "" : r.reason);
  FreeAll(live);
}

TEST(Depot, BudgetZeroIsTheOriginalBehaviour) {
  ScopedCountingBackend backend;
  ScopedDepotBudget depot(0);
  ScopedDepth depth(4);
  const concalloc::GlobalStats g0 = concalloc::GetGlobalStats();
  FreeAll(AllocN(6, 100));
  std::thread([] { FreeAll(AllocN(6, 100)); }).join();
  const concalloc::GlobalStats g = concalloc::GetGlobalStats();
  EXPECT_EQ(g.batches_put - g0.batches_put + g.batches_taken - g0.batches_taken + g.depot_blocks,
            0u)
      << "DEPOT-OFF: never used";
  EXPECT_EQ(concalloc::GetThreadStats().cached_blocks, 4u) << "DEPOT-OFF: CACHE-3";
  EXPECT_EQ(CountingBackend::Outstanding(), 4) << "DEPOT-OFF: overflow and exit to the backend";
}

TEST(Depot, TrimEmptiesTheDepotAndTheCallingThreadsCache) {
  ScopedCountingBackend backend;
  ScopedDepotBudget depot(kBig);
  AnotherLiveCache other;
  std::thread([] { FreeAll(AllocN(50, 300)); }).join();
  FreeAll(AllocN(10, 700));
  void* live = concalloc::Alloc(10);
  ASSERT_GT(concalloc::GetGlobalStats().depot_blocks, 0u);
  concalloc::Trim();
  EXPECT_EQ(concalloc::GetGlobalStats().depot_blocks, 0u) << "DEPOT-TRIM";
  EXPECT_EQ(concalloc::GetThreadStats().cached_blocks, 0u) << "DEPOT-TRIM";
  EXPECT_EQ(CountingBackend::Outstanding(), 1) << "DEPOT-TRIM: only the live block";
  concalloc::Free(live);
  concalloc_trim();
  EXPECT_EQ(CountingBackend::Outstanding(), 0) << "DEPOT-TRIM: the C form";
}

TEST(Depot, ProducerConsumerReusesMemoryThroughTheDepot) {
  for (const std::size_t budget : {kBig, std::size_t{0}}) {
    ScopedCountingBackend backend;
    ScopedDepotBudget depot(budget);
    constexpr int kBlocks = 20000;
    const std::uint64_t producer_backend_allocs = HandOff(kBlocks, 64, [](int) { return 64; });
    if (budget > 0)
      EXPECT_LT(producer_backend_allocs, std::uint64_t{kBlocks} / 2)
          << "DEPOT-REFILL: freed blocks come back to the producer";
    else
      EXPECT_GE(producer_backend_allocs, std::uint64_t{kBlocks})
          << "DEPOT-OFF: the original's weakness, every block the producer uses is new";
    EXPECT_EQ(CountingBackend::OutsideDepot(), 0) << "INV-CONSERVE";
  }
}

TEST(Depot, ForkWhileOtherThreadsUseTheDepot) {
  ScopedDepotBudget depot(kBig);
  ScopedDepth depth(2);
  concalloc::test::BusyThreads busy(2, [] { FreeAll(AllocN(5, 48)); });  // spills, refills
  const int rounds = concalloc::test::LightLoad() ? 3 : 20;
  for (int round = 0; round < rounds; ++round) {
    const pid_t pid = busy.Fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      FreeAll(AllocN(50, 48));  // takes the depot lock
      concalloc::Trim();
      _exit(concalloc::Validate() ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "LIFE-4: depot after fork";
  }
}

TEST(Depot, EnvironmentSetsTheBudgetAtStartUp) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  ::setenv("CONCALLOC_DEPOT_BYTES", "0", 1);
  EXPECT_EXIT(std::exit(concalloc::DepotBudget() == 0 ? 0 : 1), ::testing::ExitedWithCode(0), "")
      << "DEPOT-BUDGET: CONCALLOC_DEPOT_BYTES=0";
  ::setenv("CONCALLOC_DEPOT_BYTES", "nonsense", 1);
  EXPECT_EXIT(std::exit(concalloc::DepotBudget() == (8u << 20) ? 0 : 1),
              ::testing::ExitedWithCode(0), "")
      << "DEPOT-BUDGET: an invalid value is ignored";
  ::unsetenv("CONCALLOC_DEPOT_BYTES");
  EXPECT_FALSE(concalloc::SetDepotBudget(concalloc::kMaxDepotBytes + 1)) << "DEPOT-BUDGET";
}

// Generated multi-threaded scripts: each thread runs a sequence of Alloc,
// Free, hand-over (give a block to the next thread), flush and exit; then the
// global conservation equation must hold from the counters alone.
enum class Op { kAlloc, kFree, kHandOver, kFlush, kExit };

RC_GTEST_PROP(Depot, ThreadScriptsConserveBlocks, ()) {
  const std::size_t threads = *rc::gen::inRange<std::size_t>(2, 5);
  const std::size_t depth = *rc::gen::inRange<std::size_t>(0, 5);
  const std::size_t budget = *rc::gen::elementOf(std::vector<std::size_t>{0, 1024, kBig});
  std::vector<std::vector<std::pair<Op, std::size_t>>> scripts;
  for (std::size_t t = 0; t < threads; ++t)
    scripts.push_back(*rc::gen::container<std::vector<std::pair<Op, std::size_t>>>(
        rc::gen::pair(rc::gen::element(Op::kAlloc, Op::kAlloc, Op::kFree, Op::kHandOver,
                                       Op::kFlush, Op::kExit),
                      rc::gen::element<std::size_t>(0, 16, 100, 1000, 5000, 20000))));
  ScopedDepth scoped_depth(depth);
  ScopedCountingBackend backend;
  ScopedDepotBudget depot(budget);
  std::mutex mu;
  std::vector<std::vector<void*>> mailbox(threads);  // blocks handed to thread t
  std::vector<void*> leftovers;
  std::atomic<const char*> broken{nullptr};  // the first violated clause
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      std::vector<void*> mine;
      for (const auto& [op, size] : scripts[t]) {
        {
          std::lock_guard<std::mutex> lock(mu);
          mine.insert(mine.end(), mailbox[t].begin(), mailbox[t].end());
          mailbox[t].clear();
        }
        if (op == Op::kAlloc) {
          mine.push_back(concalloc::Alloc(size));
        } else if (op == Op::kFree && !mine.empty()) {
          concalloc::Free(mine.back());
          mine.pop_back();
        } else if (op == Op::kHandOver && !mine.empty()) {
          std::lock_guard<std::mutex> lock(mu);
          mailbox[(t + 1) % threads].push_back(mine.back());
          mine.pop_back();
        } else if (op == Op::kFlush) {
          concalloc::FlushThreadCache();
        } else if (op == Op::kExit) {
          break;
        }
        if (const concalloc::ValidationResult r = concalloc::Validate(); !r) {
          const char* none = nullptr;
          broken.compare_exchange_strong(none, r.clause);
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      leftovers.insert(leftovers.end(), mine.begin(), mine.end());
    });
  for (std::thread& th : pool) th.join();
  for (auto& box : mailbox) leftovers.insert(leftovers.end(), box.begin(), box.end());
  if (const char* clause = broken.load()) RC_FAIL(std::string(clause) + " on a script thread");
  // INV-CONSERVE: every block taken from the backend is live, cached (the
  // threads have exited: none is), in the depot, or returned.
  const long live = static_cast<long>(leftovers.size());
  const long depot_blocks = static_cast<long>(concalloc::GetGlobalStats().depot_blocks);
  const long cached = static_cast<long>(concalloc::GetThreadStats().cached_blocks);
  if (CountingBackend::Taken() != live + depot_blocks + cached + CountingBackend::Returned())
    RC_FAIL("INV-CONSERVE: taken " + std::to_string(CountingBackend::Taken()) + " != live " +
            std::to_string(live) + " + depot " + std::to_string(depot_blocks) + " + returned " +
            std::to_string(CountingBackend::Returned()));
  const concalloc::GlobalStats g = concalloc::GetGlobalStats();  // DEPOT-GROW: the budget in force
  if (g.depot_bytes > g.depot_budget || g.depot_budget > 8 * budget) RC_FAIL("INV-DEPOT-BOUND");
  FreeAll(leftovers);
}

}  // namespace

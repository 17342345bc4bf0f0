// Threads: blocks handed between threads under load (FREE-2), thread exit
// (LIFE-1), frees after the cache is torn down (LIFE-2), static objects
// (LIFE-3) and fork (LIFE-4).
#include <gtest/gtest.h>

#include <limits.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <concalloc/concalloc.h>

#include "test_support.h"

namespace {

using concalloc::test::CountingBackend;
using concalloc::test::ScopedCountingBackend;

// LIFE-3: a static object that allocates before main.
struct StaticUser {
  void* block = concalloc::Alloc(40);
  ~StaticUser() { concalloc::Free(block); }
} g_static_user;

TEST(Lifecycle, AllocWorksInStaticConstructors) {
  ASSERT_NE(g_static_user.block, nullptr) << "LIFE-3";
  EXPECT_GE(concalloc::UsableSize(g_static_user.block), 40u) << "LIFE-3";
}

struct Message {
  unsigned char* p;
  std::size_t size;
  std::uint32_t tag;
};

// FREE-2: producers allocate and fill, consumers verify and free, so almost
// every block is freed on another thread than the one that allocated it.
TEST(Threads, BlocksFreedOnOtherThreadsUnderLoad) {
  ScopedCountingBackend backend;
  // Checked builds walk the whole cache after every slow-path step (tier 3),
  // and sanitizer builds instrument every access, so they get a lighter load.
  constexpr int kProducers = 3, kConsumers = 3;
  const int kPerProducer =
      concalloc::GetBuildInfo().checked || concalloc::test::LightLoad() ? 2000 : 60000;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Message> queue;
  int producers_left = kProducers;
  std::atomic<long> bad{0}, consumed{0};
  std::string broken;  // the first Validate failure's clause and reason
  auto produce = [&](std::uint32_t seed) {
    std::mt19937 rng(seed);
    for (int i = 0; i < kPerProducer; ++i) {
      const std::size_t n = rng() % 4 == 0 ? rng() % 20000 : rng() % 600;
      auto* p = static_cast<unsigned char*>(concalloc::Alloc(n));
      const std::uint32_t tag = rng();
      for (std::size_t k = 0; k < n; ++k) p[k] = static_cast<unsigned char>(tag + k);
      std::lock_guard<std::mutex> lock(mu);
      queue.push_back({p, n, tag});
      cv.notify_one();
    }
    std::lock_guard<std::mutex> lock(mu);
    if (--producers_left == 0) cv.notify_all();
  };
  auto consume = [&] {
    for (;;) {
      Message msg;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return !queue.empty() || producers_left == 0; });
        if (queue.empty()) break;
        msg = queue.front();
        queue.pop_front();
      }
      for (std::size_t k = 0; k < msg.size; ++k)
        if (msg.p[k] != static_cast<unsigned char>(msg.tag + k)) bad.fetch_add(1);
      concalloc::Free(msg.p);
      consumed.fetch_add(1);
      const concalloc::ValidationResult v = concalloc::Validate();
      if (!v) {
        bad.fetch_add(1000000);
        std::lock_guard<std::mutex> lock(mu);
        if (broken.empty())
          broken = std::string(v.clause != nullptr ? v.clause : "?") + ": " +
                   (v.reason != nullptr ? v.reason : "?");
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < kProducers; ++i) threads.emplace_back(produce, 1000u + i);
  for (int i = 0; i < kConsumers; ++i) threads.emplace_back(consume);
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0) << "FREE-2: contents changed in transit, or INV-* broke"
                           << (broken.empty() ? "" : " (first: " + broken + ")");
  EXPECT_EQ(consumed.load(), long{kProducers} * kPerProducer) << "FREE-2";
  EXPECT_EQ(CountingBackend::OutsideDepot(), 0) << "DEPOT-EXIT, INV-CONSERVE: all given up at exit";
}

TEST(Lifecycle, ThreadExitReturnsEveryCachedBlock) {
  ScopedCountingBackend backend;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([] {
      std::vector<void*> blocks;
      for (std::size_t i = 0; i < 500; ++i) blocks.push_back(concalloc::Alloc(i * 17 % 9000));
      for (void* p : blocks) concalloc::Free(p);
      ASSERT_GT(concalloc::GetThreadStats().cached_blocks, 0u);
    });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(CountingBackend::OutsideDepot(), 0) << "LIFE-1, DEPOT-EXIT";
  concalloc::Trim();
  EXPECT_EQ(CountingBackend::Outstanding(), 0) << "LIFE-1, DEPOT-TRIM";
}

// LIFE-2: a pthread key created after the thread's cache runs its destructor
// after the cache's (glibc runs key destructors in key order), so its Alloc
// and Free find the cache torn down and go to the backend directly.
// INLINE-2: the inline forms too, with nothing published to them any more.
struct AfterTeardown {
  bool alloc_ok = false;
  bool front_cleared = false;
  std::size_t cached_after_free = 99;
  bool valid = false;
};
void LateDestructor(void* arg) {
  auto* report = static_cast<AfterTeardown*>(arg);
  report->front_cleared = concalloc::abi_v4::tl_front == nullptr;
  void* p = concalloc::Alloc(64);
  report->alloc_ok = p != nullptr && concalloc::UsableSize(p) >= 64;
  concalloc::Free(p);
  p = concalloc::InlineAlloc(64);
  report->alloc_ok = report->alloc_ok && p != nullptr && concalloc::UsableSize(p) >= 64;
  concalloc::InlineFree(p);
  report->cached_after_free = concalloc::GetThreadStats().cached_blocks;
  report->valid = static_cast<bool>(concalloc::Validate());
}

TEST(Lifecycle, AllocAndFreeAfterTheCacheIsTornDownUseTheBackend) {
  ScopedCountingBackend backend;
  AfterTeardown report;
  pthread_key_t key;
  std::thread([&] {
    concalloc::Free(concalloc::Alloc(64));  // the thread's cache exists now
    ASSERT_EQ(pthread_key_create(&key, &LateDestructor), 0);
    pthread_setspecific(key, &report);
  }).join();
  pthread_key_delete(key);
  EXPECT_TRUE(report.alloc_ok) << "LIFE-2: Alloc and InlineAlloc after teardown";
  EXPECT_TRUE(report.front_cleared) << "INLINE-2: the cache is no longer published";
  EXPECT_EQ(report.cached_after_free, 0u) << "LIFE-2: no cache re-created";
  EXPECT_TRUE(report.valid) << "LIFE-2";
  EXPECT_EQ(CountingBackend::OutsideDepot(), 0) << "LIFE-2: nothing lost";
}

#if !CONCALLOC_TEST_TSAN  // TSan tears its own thread state down in that round
// LIFE-6: a thread whose first Alloc comes in the last round of pthread-key
// destructors. Its cache is created then, and its exit key set, but glibc
// runs no further round: the cache is never torn down by its thread. (The
// library's key exists already, so it comes before this test's key and its
// destructor has had its turn in that round.)
pthread_key_t g_rearming_key;
void RearmingDestructor(void* value) {
  const auto round = reinterpret_cast<std::uintptr_t>(value);
  if (round < PTHREAD_DESTRUCTOR_ITERATIONS) {  // come back next round
    pthread_setspecific(g_rearming_key, reinterpret_cast<void*>(round + 1));
    return;
  }
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < 60; ++i) blocks.push_back(concalloc::Alloc(16 + i * 24));
  for (void* p : blocks) concalloc::Free(p);
}

TEST(Lifecycle, ACacheMadeInTheLastRoundOfKeyDestructorsIsReturned) {
  ScopedCountingBackend backend;
  ASSERT_EQ(pthread_key_create(&g_rearming_key, &RearmingDestructor), 0);
  for (int t = 0; t < 10; ++t)
    std::thread([] { pthread_setspecific(g_rearming_key, reinterpret_cast<void*>(1)); }).join();
  pthread_key_delete(g_rearming_key);
  concalloc::Trim();  // DEPOT-TRIM: the dead threads' caches too
  EXPECT_EQ(CountingBackend::Outstanding(), 0)
      << "LIFE-6: the caches of threads that died without their teardown were lost";
  EXPECT_TRUE(concalloc::Validate()) << "LIFE-6";
}
#endif

// LIFE-2 too: thread_local destructors run before the cache's teardown.
struct FreesAtThreadExit {
  void* p = nullptr;
  ~FreesAtThreadExit() { concalloc::Free(p); }
};

TEST(Lifecycle, ThreadLocalDestructorsMayFree) {
  ScopedCountingBackend backend;
  std::thread([] {
    thread_local FreesAtThreadExit holder;
    holder.p = concalloc::Alloc(100);
  }).join();
  EXPECT_EQ(CountingBackend::OutsideDepot(), 0) << "LIFE-2";
}

// LIFE-4: fork from a program whose other threads are allocating.
TEST(Lifecycle, ForkChildCanAllocateAndFree) {
  concalloc::test::BusyThreads busy(2, [] { concalloc::Free(concalloc::Alloc(128)); });
  void* before_fork = concalloc::Alloc(256);
  std::memset(before_fork, 0x42, 256);
  const pid_t pid = busy.Fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int ok = 1;
    const int rounds = concalloc::test::LightLoad() ? 500 : 10000;
    for (int i = 0; i < rounds && ok; ++i) {
      void* p = concalloc::Alloc(static_cast<std::size_t>(i % 9000));
      ok = p != nullptr;
      concalloc::Free(p);
    }
    ok = ok && static_cast<const unsigned char*>(before_fork)[255] == 0x42;
    concalloc::Free(before_fork);
    std::thread([&] { concalloc::Free(concalloc::Alloc(10)); }).join();
    ok = ok && static_cast<bool>(concalloc::Validate());
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  concalloc::Free(before_fork);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "LIFE-4: child status " << status;
}

}  // namespace

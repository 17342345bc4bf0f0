// The scaling family (issue #13): multi-threaded workloads in the shapes of
// the allocator benchmarks that exposed the depot's limits, written anew
// for this project. A plain program over malloc and free, so that every
// allocator runs it the same way: glibc as it is, the others preloaded
// (libconcalloc-malloc, mimalloc, jemalloc, tcmalloc, TBB's proxy).
//   scaling WORKLOAD THREADS [SCALE]
// prints one line:
//   WORKLOAD THREADS METRIC VALUE peak_rss_kib=N rss_after_kib=N cpu_s=N
// Workloads (METRIC; higher is better unless it ends in _ns or _s):
//   xmalloc   THREADS/2 producers malloc batches of 4096 64-byte blocks
//             and queue them (at most 100) for as many consumers, which
//             free them (mimalloc-bench's xmalloc-test shape, fixed time):
//             frees_per_s
//   xmalloc-mixed  the same with sizes drawn from 8..2048 bytes
//   larson    each thread replaces random blocks (8..1000 bytes) of an
//             array of 1000, 20000 times, and exits; a new thread takes
//             the array over, so blocks die on other threads than the ones
//             that made them (larson's shape): ops_per_s
//   pc        THREADS/2 producers hand mixed 16..256-byte blocks to as many
//             consumers through one SPSC ring each: ns_per_block
//   rptest    a mixed working set per thread, sizes 16 B..16 KiB skewed
//             small, a tenth of the blocks freed by another thread
//             (rpmalloc's rptest shape): ops_per_cpu_s, with the peak RSS
//   churn     20 rounds of 200 short-lived threads (THREADS at a time),
//             each allocating 1000 mixed blocks and handing half to
//             another thread; rss_after_kib is the resident set after the
//             last round, everything freed: ns_per_op
//   workset   each thread replaces random blocks of a 2000-block set of
//             8..1024 bytes: ns_per_op
//   idle      each thread builds a heap of 400,000 blocks (16..1024 bytes,
//             most small), hands half of it to the next thread, frees the
//             rest and what it was handed, then sits idle (blocked) while
//             the main thread reads the resident set; no Trim, no thread
//             exit before the reading (issue #36's "a program that frees
//             its heap while its other threads sit idle"): ns_per_op of
//             the build and free, and rss_after_kib
//   exec-rss  runs the rest of the command line as a child, LD_PRELOAD from
//             SCALING_PRELOAD in the child only: its peak RSS (the fixed
//             cost of loading an allocator, e.g. /bin/true)
// SCALE multiplies the work (default 1; bench/run --smoke passes 0.02).
#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

double g_scale = 1.0;

std::uint64_t Rng(std::uint64_t& s) {  // xorshift64
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

long PeakRssKib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

long RssNowKib() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

long Scaled(double n) { return std::max(1L, static_cast<long>(n * g_scale)); }

// Keeps the compiler from removing an allocation it can see through.
void* Touch(void* p, std::size_t n) {
  if (p == nullptr) std::abort();
  static_cast<unsigned char*>(p)[0] = 1;
  if (n > 1) static_cast<unsigned char*>(p)[n - 1] = 2;
  asm volatile("" : : "g"(p) : "memory");
  return p;
}

void RunThreads(int n, const std::function<void(int)>& body);

// ---- xmalloc: batches of 4096 blocks from producers to consumers ----
// mimalloc-bench's xmalloc-test, written anew: W producers and W
// consumers (THREADS = 2W). A producer mallocs a batch record, then 4096
// blocks (64 bytes, or sizes drawn from 8..2048 in xmalloc-mixed), writes
// the first min(size, 128) bytes of each, and pushes the batch onto one
// list under one mutex, waiting on a condition variable while 100 batches
// are queued. A consumer pops a batch and frees its blocks and the record.
// Runs for a fixed time (1.5 s x SCALE); the metric is frees per second.
struct XBatch {
  XBatch* next;
  void* block[4096];
};
double Xmalloc(int threads, bool mixed) {
  const int producers = std::max(1, threads / 2), consumers = producers;
  constexpr int kQueueMax = 100;
  std::mutex mu;
  std::condition_variable not_full, not_empty;
  XBatch* head = nullptr;  // under mu: a LIFO of `queued` batches
  int queued = 0;
  bool stop = false;
  std::atomic<long> freed{0};
  const double seconds = std::max(0.05, 1.5 * g_scale);
  const double start = Now();
  RunThreads(producers + consumers, [&](int t) {
    if (t < producers) {
      std::uint64_t rng = 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(t + 1);
      while (Now() - start < seconds) {
        auto* b = static_cast<XBatch*>(Touch(std::malloc(sizeof(XBatch)), sizeof(XBatch)));
        for (void*& p : b->block) {
          const std::size_t n = mixed ? 8 + Rng(rng) % 2041 : 64;
          p = std::malloc(n);
          if (p == nullptr) std::abort();
          std::memset(p, 0x5a, std::min<std::size_t>(n, 128));
        }
        std::unique_lock<std::mutex> lock(mu);
        not_full.wait(lock, [&] { return queued < kQueueMax || stop; });
        if (stop) {  // the run is over: this batch is not counted
          lock.unlock();
          for (void* p : b->block) std::free(p);
          std::free(b);
          return;
        }
        b->next = head;
        head = b;
        queued += 1;
        not_empty.notify_one();
      }
      std::lock_guard<std::mutex> lock(mu);
      stop = true;  // the first producer out of time ends the run
      not_empty.notify_all();
      not_full.notify_all();
      return;
    }
    for (;;) {
      XBatch* b;
      {
        std::unique_lock<std::mutex> lock(mu);
        not_empty.wait(lock, [&] { return head != nullptr || stop; });
        if (head == nullptr) return;
        b = head;
        head = b->next;
        queued -= 1;
        not_full.notify_one();
      }
      for (void* p : b->block) std::free(p);
      std::free(b);
      freed.fetch_add(4096, std::memory_order_relaxed);
    }
  });
  // Batches left queued when time ran out were freed by the consumers
  // (they drain the list before they return) and are counted.
  return static_cast<double>(freed.load()) / (Now() - start);
}

// ---- larson: arrays of blocks passed from thread to thread ----
double Larson(int threads) {
  constexpr int kSlots = 1000;
  const int kRounds = static_cast<int>(Scaled(300));
  const long steps = 20000;  // per thread: then a new thread takes over
  std::vector<std::vector<void*>> arrays(static_cast<std::size_t>(threads));
  for (auto& a : arrays) {
    a.resize(kSlots);
    std::uint64_t s = 88172645463325252ull + reinterpret_cast<std::uintptr_t>(&a);
    for (void*& p : a) {
      const std::size_t n = 8 + Rng(s) % 993;
      p = Touch(std::malloc(n), n);
    }
  }
  const double start = Now();
  for (int round = 0; round < kRounds; ++round) {
    RunThreads(threads, [&](int t) {
      // The array of the thread before (another thread made its blocks).
      std::vector<void*>& a = arrays[static_cast<std::size_t>((t + round) % threads)];
      std::uint64_t s = 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(t + 1 + round * 131);
      for (long i = 0; i < steps; ++i) {
        const std::size_t k = Rng(s) % kSlots, n = 8 + Rng(s) % 993;
        std::free(a[k]);
        a[k] = Touch(std::malloc(n), n);
      }
    });
  }
  const double ops = static_cast<double>(steps) * kRounds * threads;
  const double secs = Now() - start;
  for (auto& a : arrays)
    for (void* p : a) std::free(p);
  return ops / secs;
}

// ---- pc: producers and consumers through SPSC rings, mixed sizes ----
double ProducerConsumer(int threads) {
  const int pairs = std::max(1, threads / 2);
  constexpr std::size_t kRing = 1024;
  const long blocks = Scaled(2000000);  // per pair
  std::vector<std::vector<std::atomic<void*>>> rings(static_cast<std::size_t>(pairs));
  for (auto& r : rings) r = std::vector<std::atomic<void*>>(kRing);
  const double start = Now();
  RunThreads(2 * pairs, [&](int t) {
    auto& ring = rings[static_cast<std::size_t>(t / 2)];
    if (t % 2 == 0) {
      std::uint64_t s = 0x2545F4914F6CDD1Dull * static_cast<std::uint64_t>(t + 1);
      for (long i = 0; i < blocks; ++i) {
        const std::size_t n = 16 + Rng(s) % 241;
        void* p = Touch(std::malloc(n), n);
        std::atomic<void*>& slot = ring[static_cast<std::size_t>(i) % kRing];
        while (slot.load(std::memory_order_acquire) != nullptr) std::this_thread::yield();
        slot.store(p, std::memory_order_release);
      }
    } else {
      for (long i = 0; i < blocks; ++i) {
        std::atomic<void*>& slot = ring[static_cast<std::size_t>(i) % kRing];
        void* p;
        while ((p = slot.load(std::memory_order_acquire)) == nullptr) std::this_thread::yield();
        slot.store(nullptr, std::memory_order_relaxed);
        std::free(p);
      }
    }
  });
  return (Now() - start) * 1e9 / static_cast<double>(blocks * pairs);
}

// ---- rptest: mixed working sets, some blocks freed by another thread ----
std::size_t MixedSize(std::uint64_t& s) {
  const std::uint64_t r = Rng(s) % 100;
  if (r < 75) return 16 + Rng(s) % 241;    // 16..256
  if (r < 95) return 257 + Rng(s) % 3840;  // ..4 KiB
  return 4097 + Rng(s) % 12288;            // ..16 KiB
}
double Rptest(int threads) {
  constexpr std::size_t kLive = 4000;
  const long steps = Scaled(1500000);  // per thread
  struct Mailbox {
    std::mutex mu;
    std::vector<void*> blocks;
  };
  std::vector<Mailbox> mail(static_cast<std::size_t>(threads));
  const double cpu0 = CpuSeconds();
  RunThreads(threads, [&](int t) {
    std::uint64_t s = 0xD1B54A32D192ED03ull * static_cast<std::uint64_t>(t + 1);
    std::vector<void*> live(kLive, nullptr);
    std::vector<void*> outgoing, incoming;
    Mailbox& next = mail[static_cast<std::size_t>((t + 1) % threads)];
    Mailbox& mine = mail[static_cast<std::size_t>(t)];
    for (long i = 0; i < steps; ++i) {
      const std::size_t k = Rng(s) % kLive;
      if (live[k] != nullptr) {
        if (Rng(s) % 10 == 0)
          outgoing.push_back(live[k]);  // freed by the next thread
        else
          std::free(live[k]);
      }
      const std::size_t n = MixedSize(s);
      live[k] = Touch(std::malloc(n), n);
      if (outgoing.size() >= 256) {
        std::lock_guard<std::mutex> lock(next.mu);
        next.blocks.insert(next.blocks.end(), outgoing.begin(), outgoing.end());
        outgoing.clear();
      }
      if ((i & 1023) == 0) {
        {
          std::lock_guard<std::mutex> lock(mine.mu);
          incoming.swap(mine.blocks);
        }
        for (void* p : incoming) std::free(p);
        incoming.clear();
      }
    }
    for (void* p : live) std::free(p);
    std::lock_guard<std::mutex> lock(next.mu);
    next.blocks.insert(next.blocks.end(), outgoing.begin(), outgoing.end());
  });
  for (Mailbox& m : mail)
    for (void* p : m.blocks) std::free(p);
  return static_cast<double>(steps) * threads / (CpuSeconds() - cpu0);
}

// ---- churn: short-lived threads, half their blocks freed by another ----
double Churn(int threads, long* rss_after) {
  constexpr int kRounds = 20, kThreadsPerRound = 200, kBlocks = 1000;
  std::mutex mu;
  std::vector<void*> handed;
  const double start = Now();
  long ops = 0;
  (void)threads;  // all of a round's threads run at once
  for (int round = 0; round < kRounds; ++round) {
    for (int done = 0; done < kThreadsPerRound; done += kThreadsPerRound) {
      const int n = kThreadsPerRound;
      RunThreads(n, [&](int t) {
        std::uint64_t s = 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(round * 1000 + done + t + 1);
        std::vector<void*> mine, theirs;
        for (int i = 0; i < kBlocks; ++i) {
          const std::size_t size = 16 + Rng(s) % 2033;
          mine.push_back(Touch(std::malloc(size), size));
        }
        {
          std::lock_guard<std::mutex> lock(mu);
          theirs.swap(handed);  // the blocks the thread before handed over
          handed.assign(mine.begin() + kBlocks / 2, mine.end());
        }
        for (int i = 0; i < kBlocks / 2; ++i) std::free(mine[static_cast<std::size_t>(i)]);
        for (void* p : theirs) std::free(p);
      });
      ops += 2L * n * kBlocks;
    }
  }
  for (void* p : handed) std::free(p);
  const double secs = Now() - start;
  *rss_after = RssNowKib();
  return secs * 1e9 / static_cast<double>(ops);
}

// ---- idle: heaps freed, then their threads sit idle ----
double Idle(int threads, long* rss_after) {
  const long blocks = Scaled(400000);
  std::mutex mu;
  std::condition_variable cv;
  int freed = 0, handed_in = 0;
  bool release = false;
  std::vector<std::vector<void*>> handoff(static_cast<std::size_t>(threads));
  const double start = Now();
  double end = 0;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::uint64_t s = 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(t + 1);
      std::vector<void*> mine;
      mine.reserve(static_cast<std::size_t>(blocks));
      for (long i = 0; i < blocks; ++i) {
        const std::uint64_t r = Rng(s);
        const std::size_t size = r % 8 != 0 ? 16 + r / 8 % 113 : 16 + r / 8 % 1009;
        mine.push_back(Touch(std::malloc(size), size));
      }
      std::vector<void*> theirs;
      {
        std::unique_lock<std::mutex> lock(mu);
        handoff[static_cast<std::size_t>((t + 1) % threads)].assign(mine.begin() + blocks / 2,
                                                                      mine.end());
        ++handed_in;
        cv.notify_all();
        cv.wait(lock, [&] { return handed_in == threads; });
        theirs.swap(handoff[static_cast<std::size_t>(t)]);
      }
      for (long i = 0; i < blocks / 2; ++i) std::free(mine[static_cast<std::size_t>(i)]);
      for (void* p : theirs) std::free(p);
      std::vector<void*>().swap(mine);
      std::vector<void*>().swap(theirs);
      std::unique_lock<std::mutex> lock(mu);
      ++freed;
      cv.notify_all();
      cv.wait(lock, [&] { return release; });  // idle: alive, its cache kept
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return freed == threads; });
    end = Now();
    *rss_after = RssNowKib();
    release = true;
    cv.notify_all();
  }
  for (std::thread& th : pool) th.join();
  return (end - start) * 1e9 / (2.0 * static_cast<double>(blocks) * threads);
}

// ---- workset: per-thread random replacement in a set of 2000 ----
double Workset(int threads) {
  constexpr std::size_t kLive = 2000;
  const long steps = Scaled(5000000);
  const double start = Now();
  RunThreads(threads, [&](int t) {
    std::uint64_t s = 0x9E3779B97F4A7C15ull ^ static_cast<std::uint64_t>(t + 1);
    std::vector<void*> live(kLive);
    for (void*& p : live) {
      const std::size_t n = 8 + Rng(s) % 1017;
      p = Touch(std::malloc(n), n);
    }
    for (long i = 0; i < steps; ++i) {
      const std::size_t k = Rng(s) % kLive, n = 8 + Rng(s) % 1017;
      std::free(live[k]);
      live[k] = Touch(std::malloc(n), n);
    }
    for (void* p : live) std::free(p);
  });
  return (Now() - start) * 1e9 / static_cast<double>(steps * threads);
}

int ExecRss(char** argv) {
  const pid_t pid = fork();
  if (pid == 0) {
    const char* preload = std::getenv("SCALING_PRELOAD");
    if (preload != nullptr && *preload != '\0') setenv("LD_PRELOAD", preload, 1);
    execv(argv[0], argv);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);
  std::printf("exec-rss 1 peak_rss_kib %ld peak_rss_kib=%ld rss_after_kib=0 cpu_s=0\n",
              ru.ru_maxrss, ru.ru_maxrss);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

void RunThreads(int n, const std::function<void(int)>& body) {
  std::vector<std::thread> pool;
  for (int t = 0; t < n; ++t) pool.emplace_back(body, t);
  for (std::thread& th : pool) th.join();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::strcmp(argv[1], "exec-rss") == 0) return ExecRss(argv + 2);
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s xmalloc|xmalloc-mixed|larson|pc|rptest|churn|workset|idle THREADS [SCALE]\n"
                         "       %s exec-rss PROGRAM [ARGS...]\n", argv[0], argv[0]);
    return 2;
  }
  const std::string w = argv[1];
  const int threads = std::max(1, std::atoi(argv[2]));
  if (argc > 3) g_scale = std::atof(argv[3]);
  const double cpu0 = CpuSeconds();
  long rss_after = 0;
  const char* metric;
  double value;
  if (w == "xmalloc" || w == "xmalloc-mixed") {
    metric = "frees_per_s", value = Xmalloc(threads, w == "xmalloc-mixed");
  } else if (w == "larson") {
    metric = "ops_per_s", value = Larson(threads);
  } else if (w == "pc") {
    metric = "ns_per_block", value = ProducerConsumer(threads);
  } else if (w == "rptest") {
    metric = "ops_per_cpu_s", value = Rptest(threads);
  } else if (w == "churn") {
    metric = "ns_per_op", value = Churn(threads, &rss_after);
  } else if (w == "workset") {
    metric = "ns_per_op", value = Workset(threads);
  } else if (w == "idle") {
    metric = "ns_per_op", value = Idle(threads, &rss_after);
  } else {
    std::fprintf(stderr, "unknown workload %s\n", w.c_str());
    return 2;
  }
  std::printf("%s %d %s %.6g peak_rss_kib=%ld rss_after_kib=%ld cpu_s=%.3f\n", w.c_str(), threads,
              metric, value, PeakRssKib(), rss_after, CpuSeconds() - cpu0);
  return 0;
}

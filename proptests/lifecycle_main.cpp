// LIFE-1..LIFE-3 and LIFE-6 as a whole program, for the leak checkers: threads come and
// go, blocks cross threads, thread_local and pthread-key destructors free
// and allocate, a static object allocates before main and frees after it,
// and main's own cache is still full when main returns. Run under valgrind
// (memcheck, --leak-check=full) and built with LeakSanitizer: both must find
// nothing. Exits 0 when every block's contents were as written.
#include <limits.h>
#include <pthread.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include <concalloc/concalloc.h>

namespace {

struct StaticUser {  // LIFE-3
  void* block = concalloc::Alloc(100);
  ~StaticUser() { concalloc::Free(block); }
} g_static_user;

struct FreesAtThreadExit {  // LIFE-2: thread_local destructors
  void* p = nullptr;
  ~FreesAtThreadExit() { concalloc::Free(p); }
};

void KeyDestructor(void*) {  // LIFE-2: may run after the cache is torn down
  concalloc::Free(concalloc::Alloc(200));
}

// LIFE-6: a thread whose first Alloc comes in the last round of key
// destructors (its cache is never torn down by its thread).
pthread_key_t g_rearming_key;
void RearmingDestructor(void* value) {
  const auto round = reinterpret_cast<std::uintptr_t>(value);
  if (round < PTHREAD_DESTRUCTOR_ITERATIONS) {
    pthread_setspecific(g_rearming_key, reinterpret_cast<void*>(round + 1));
    return;
  }
  for (int i = 0; i < 50; ++i) concalloc::Free(concalloc::Alloc(64 + static_cast<std::size_t>(i)));
}

std::mutex g_mu;
std::vector<unsigned char*> g_handed;  // blocks freed by main (FREE-2)
pthread_key_t g_key;

void Worker(int seed) {
  thread_local FreesAtThreadExit holder;
  holder.p = concalloc::Alloc(64);
  pthread_setspecific(g_key, &holder);
  std::vector<unsigned char*> blocks;
  for (int i = 0; i < 300; ++i) {
    const std::size_t n = static_cast<std::size_t>((seed * 31 + i * 97) % (i % 10 == 0 ? 30000 : 2000));
    auto* p = static_cast<unsigned char*>(concalloc::Alloc(n + 1));
    p[0] = static_cast<unsigned char>(n);
    blocks.push_back(p);
  }
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    if (i % 50 == 0) {
      std::lock_guard<std::mutex> lock(g_mu);
      g_handed.push_back(blocks[i]);
    } else {
      concalloc::Free(blocks[i]);
    }
  }
}

}  // namespace

int main() {
  std::printf("lifecycle_check: LIFE-1 LIFE-2 LIFE-3 under a leak checker\n");
  pthread_key_create(&g_key, &KeyDestructor);
  concalloc::Free(concalloc::Alloc(1));  // the library's key first (LIFE-6)
  pthread_key_create(&g_rearming_key, &RearmingDestructor);
  for (int t = 0; t < 10; ++t)
    std::thread([] { pthread_setspecific(g_rearming_key, reinterpret_cast<void*>(1)); }).join();
  for (int wave = 0; wave < 8; ++wave) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) threads.emplace_back(Worker, wave * 8 + t);
    for (std::thread& t : threads) t.join();
  }
  for (unsigned char* p : g_handed) concalloc::Free(p);
  // Leave main's cache full: exit() runs no key destructor for main, the
  // library's process-exit teardown must return these (LIFE-3).
  std::vector<void*> mine;
  for (int i = 0; i < 500; ++i) mine.push_back(concalloc::Alloc(static_cast<std::size_t>(i * 13)));
  for (void* p : mine) concalloc::Free(p);
  const concalloc::ThreadStats s = concalloc::GetThreadStats();
  std::printf("main thread holds %zu cached blocks at exit\n", s.cached_blocks);
  return s.cached_blocks > 0 ? 0 : 1;
}

#include "platform.h"

#include "build_config.h"

#include <malloc.h>
#include <pthread.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace concalloc::platform {
namespace {
// One key for the library, created once (pthread_once: no C++ runtime, no
// allocation); every caller must pass the same fn (LIFE-1).
pthread_key_t g_exit_key;
pthread_once_t g_exit_key_once = PTHREAD_ONCE_INIT;
bool g_exit_key_ok = false;
std::atomic<void (*)(void*)> g_exit_fn{nullptr};
void CreateExitKey() { g_exit_key_ok = pthread_key_create(&g_exit_key, g_exit_fn.load()) == 0; }
}  // namespace

bool AtThreadExit(void (*fn)(void*), void* arg) noexcept {
  void (*none)(void*) = nullptr;
  g_exit_fn.compare_exchange_strong(none, fn);  // the first caller's fn
  pthread_once(&g_exit_key_once, &CreateExitKey);
  return g_exit_key_ok && g_exit_fn.load() == fn && pthread_setspecific(g_exit_key, arg) == 0;
}

static_assert(sizeof(pthread_mutex_t) <= sizeof(LifeToken::opaque) &&
                  alignof(pthread_mutex_t) <= alignof(LifeToken),
              "LIFE-6: a LifeToken holds a pthread mutex");
namespace {
pthread_mutex_t* MutexOf(LifeToken& token) noexcept {
  return reinterpret_cast<pthread_mutex_t*>(token.opaque);
}
}  // namespace

bool HoldLifeToken(LifeToken& token) noexcept {
  pthread_mutexattr_t attr;
  if (pthread_mutexattr_init(&attr) != 0) return false;
  bool ok = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) == 0 &&
            pthread_mutex_init(MutexOf(token), &attr) == 0;
  pthread_mutexattr_destroy(&attr);
  if (ok && pthread_mutex_lock(MutexOf(token)) != 0) {
    pthread_mutex_destroy(MutexOf(token));
    ok = false;
  }
  return ok;
}

void ReleaseLifeToken(LifeToken& token) noexcept {
  pthread_mutex_unlock(MutexOf(token));
  pthread_mutex_destroy(MutexOf(token));
}

bool LifeTokenOwnerDied(LifeToken& token) noexcept {
  const int rc = pthread_mutex_trylock(MutexOf(token));
  if (rc == EOWNERDEAD) {
    // Ours now, and on our robust list: take it off before it is destroyed.
    pthread_mutex_consistent(MutexOf(token));
    pthread_mutex_unlock(MutexOf(token));
    pthread_mutex_destroy(MutexOf(token));
    return true;
  }
  if (rc == 0) pthread_mutex_unlock(MutexOf(token));  // not held: not ours to judge
  return false;
}

void RenewLifeTokenInChild(LifeToken& token) noexcept {
  // The parent's lock word names the parent's thread: start afresh.
  std::memset(token.opaque, 0, sizeof token.opaque);
  (void)HoldLifeToken(token);
}

std::uint64_t ProcessRandom() noexcept {
  std::uint64_t r = 0;
  if (const void* bytes = reinterpret_cast<const void*>(getauxval(AT_RANDOM)))
    std::memcpy(&r, bytes, sizeof r);
  // Mix in the library's load address (ASLR) in case AT_RANDOM is absent.
  r ^= reinterpret_cast<std::uintptr_t>(&g_exit_key) * 0x9E3779B97F4A7C15ull;
  return r != 0 ? r : 0x5DEECE66Dull;
}

const char* GetEnv(const char* name) noexcept { return std::getenv(name); }

void WriteStderr(const char* text, std::size_t length) noexcept {
  while (length > 0) {
    ssize_t n = ::write(STDERR_FILENO, text, length);
    if (n <= 0) return;
    text += n;
    length -= static_cast<std::size_t>(n);
  }
}

void Abort() noexcept { std::abort(); }

void HeapTrim() noexcept { malloc_trim(0); }

std::size_t PageSize() noexcept { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

}  // namespace concalloc::platform

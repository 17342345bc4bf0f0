#include "platform.h"

#include "build_config.h"

#include <pthread.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace concalloc::platform {
namespace {
pthread_key_t g_exit_key;

struct ExitKey {
  bool ok;
  void (*fn)(void*);
};
}  // namespace

bool AtThreadExit(void (*fn)(void*), void* arg) noexcept {
  // One key for the library, created by the first caller (a thread-safe
  // static: no allocation); every caller must pass the same fn.
  static const ExitKey key{pthread_key_create(&g_exit_key, fn) == 0, fn};
  return key.ok && key.fn == fn && pthread_setspecific(g_exit_key, arg) == 0;
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

std::size_t PageSize() noexcept {
  static const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

}  // namespace concalloc::platform

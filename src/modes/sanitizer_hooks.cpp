#include "modes/sanitizer_hooks.h"

#include "modes/checked.h"
#include "platform/config.h"

#if CONCALLOC_ASAN
#include <sanitizer/allocator_interface.h>
#endif

// SAN-DIRECT: Valgrind is detected at run time in every build, when its
// header is there to build with (the valgrind package; CMake checks).
#if CONCALLOC_HAVE_VALGRIND_H && !CONCALLOC_VALGRIND
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#endif
#if CONCALLOC_HAVE_VALGRIND_H || CONCALLOC_VALGRIND
#define CONCALLOC_DETECT_VALGRIND 1
#else
#define CONCALLOC_DETECT_VALGRIND 0
#endif

namespace concalloc::detail::san {

// Not instrumented by ASan and never inlined into code that is: the
// allocator's own accesses to headers the user must not touch.
__attribute__((no_sanitize_address, noinline)) std::uint64_t UncheckedLoad(
    const std::uint64_t* p) noexcept {
  return *p;
}

__attribute__((no_sanitize_address, noinline)) void UncheckedStore(std::uint64_t* p,
                                                                  std::uint64_t v) noexcept {
  *p = v;
}

std::atomic<int> g_tool_mode{-1};

namespace {
bool RunningOnValgrind() noexcept {
#if CONCALLOC_DETECT_VALGRIND
  return RUNNING_ON_VALGRIND != 0;
#else
  return false;
#endif
}
}  // namespace

}  // namespace concalloc::detail::san

// LeakSanitizer's runtime, when the program has one (-fsanitize=leak or
// address), whatever this library was built with.
extern "C" __attribute__((weak)) void __lsan_do_leak_check();

namespace concalloc::detail::san {

bool LeakCheckerMayLook() noexcept {
  return kChecked || kAsan || CONCALLOC_SANITIZER_RUNTIME != 0 || RunningOnValgrind() ||
         &__lsan_do_leak_check != nullptr;
}

bool DecideToolMode() noexcept {
  // Every thread that races here decides the same.
  const bool tool = (kAsan || RunningOnValgrind()) && kMutant != kMutantNoToolMode &&
                    ParseSetting(platform::GetEnv("CONCALLOC_TOOL_CACHES"), 0, 1) == 0;
  g_tool_mode.store(tool ? 1 : 0, std::memory_order_relaxed);
  return tool;
}

void ToolBlockOut(void* raw, void* user, std::size_t requested, std::size_t span) noexcept {
  BlockOut(raw, user, requested, span);  // ASan's poisoning (SAN-LIVE, SAN-GRANULE)
#if CONCALLOC_DETECT_VALGRIND && !CONCALLOC_VALGRIND
  // A block of its own for memcheck, inside the backend's (memcheck then
  // leaves the outer one out of its leak check): leaks and frees are
  // reported at the user's pointer. The header stays addressable: this
  // build's Free reads it with a plain load.
  VALGRIND_MALLOCLIKE_BLOCK(user, requested, 0, 0);
  VALGRIND_MAKE_MEM_NOACCESS(static_cast<char*>(user) + requested, span - requested);
#endif
}

bool ToolBlockStart(const void* raw) noexcept {
#if CONCALLOC_ASAN
  void* region = nullptr;
  std::size_t size = 0;
  const char* kind =
      __asan_locate_address(const_cast<void*>(raw), nullptr, 0, &region, &size);
  return kind != nullptr && kind[0] == 'h' && region == raw;  // "heap"
#else
  (void)raw;
  return true;
#endif
}

void ToolCheckOwned(const void* raw, const void* user) noexcept {
#if CONCALLOC_ASAN
  if (__sanitizer_get_ownership(raw) != 0) return;
  Report("SAN-DIRECT", user,
         "UsableSize of a block that is not live (freed); the tool's report follows, for "
         "its own block below it");
  (void)__sanitizer_get_allocated_size(raw);  // reports and stops the process
  platform::Abort();
#else
  (void)raw, (void)user;
#endif
}

void ToolBlockIn(void* user) noexcept {
#if CONCALLOC_DETECT_VALGRIND
  VALGRIND_FREELIKE_BLOCK(user, 0);
#endif
  (void)user;
}

}  // namespace concalloc::detail::san

#include "sanitizer_hooks.h"

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

}  // namespace concalloc::detail::san

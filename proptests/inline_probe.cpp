// INLINE-1: two functions whose bodies are the inline fast paths, for
// cmake/check_fast_path.sh to read from the object file: a hit must need no
// call, no lock and no atomic RMW, and must reach the thread cache through
// static TLS. Built twice: as is, and with CONCALLOC_NO_INLINE_FAST_PATH,
// which the check must reject (the opt-out reads no cache).
#include <cstddef>

#include <concalloc/inline.h>

extern "C" void* concalloc_probe_inline_alloc(std::size_t n) { return concalloc::InlineAlloc(n); }
extern "C" void concalloc_probe_inline_free(void* p) noexcept { concalloc::InlineFree(p); }

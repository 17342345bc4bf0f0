// MALLOC-CALLOC, MALLOC-REALLOC: large blocks through the C heap's own
// calloc and realloc, where the C heap is the backend and the build writes
// nothing of its own into a block's bytes (not checked, not built for ASan
// or memcheck, not in tool mode). glibc's calloc knows that a chunk fresh
// from mmap is zero and does not write it; its realloc moves a mapped chunk
// with mremap instead of copying it. Everywhere else: the general paths.
#include <cstring>

#include "heap/backend.h"
#include "cache/cache_internal.h"

namespace concalloc::detail {

namespace {

bool LargeByCHeap() noexcept {
  return !kChecked && !san::kExactUsable && !san::ToolMode() &&
         &CurrentBackend() == &DefaultBackend();
}

}  // namespace

void* AllocLargeZeroed(std::size_t size) noexcept {
  if (!LargeByCHeap()) {
    void* p = AllocLarge<false>(size);
    if (p != nullptr) std::memset(p, 0, size);
    return p;
  }
  if (size > static_cast<std::size_t>(PTRDIFF_MAX) - kLargeHeader) return Fail(false);  // ALLOC-3
  void* raw = CHeapCalloc(size + kLargeHeader);
  if (raw == nullptr) return Fail(false);  // ALLOC-4
  return LargeBlockOut(raw, size);
}

bool ReallocLarge(void* p, std::size_t size, void** out) noexcept {
  if (size <= kMaxSmall || !LargeByCHeap()) return false;
  Block* h = BlockOf(p);
  if (ReadTag(h).kind != kKindLarge) return false;
  if (size > static_cast<std::size_t>(PTRDIFF_MAX) - kLargeHeader) {
    *out = Fail(false);  // ALLOC-3: p untouched
    return true;
  }
  void* raw = CHeapRealloc(RawOf(h), size + kLargeHeader);
  if (raw == nullptr) {
    *out = Fail(false);  // ALLOC-4: p untouched (the C heap's realloc keeps it)
    return true;
  }
  if (ThreadCache* tc = LiveCache()) tc->backend_frees += 1;
  *out = LargeBlockOut(raw, size);
  return true;
}

}  // namespace concalloc::detail

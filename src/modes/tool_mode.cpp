// Tool mode (SAN-DIRECT): under a sanitizer's or Valgrind's allocator,
// every block goes to it directly, with no cache, so that the tool sees
// each one.
#include <cstddef>
#include <cstdint>

#include "heap/backend.h"
#include "cache/cache_internal.h"

namespace concalloc::detail {

namespace {

// SAN-DIRECT: in tool mode every block is an aligned block (HDR-1) of
// exactly the requested bytes (word: the requested size), whose header lies
// kToolOffset bytes (or the alignment) into its backend block: never in the
// first 16 bytes, which the tools' allocators may overwrite once the block
// is freed (ASan keeps its free stack there), so a double free still finds
// the header and the tool reports it.
constexpr std::size_t kToolOffset = 32;
static_assert(kToolOffset > kAlignment && kToolOffset >= 2 * kLargeHeader, "SAN-DIRECT");

}  // namespace

template <bool kThrows>
CONCALLOC_NOINLINE void* ToolAlloc(std::size_t size, std::size_t alignment) noexcept(!kThrows) {
  const std::size_t offset = alignment > kToolOffset ? alignment : kToolOffset;
  const std::size_t max = static_cast<std::size_t>(PTRDIFF_MAX);
  if (offset > max / 4 || size > max - 2 * offset) return Fail(kThrows);  // ALLOC-3
  const Backend& backend = CurrentBackend();
  std::size_t span = size;
  char* raw;
  if (alignment > kAlignment) {
    span = (size + offset - 1) & ~(offset - 1);  // the backend's contract
    raw = static_cast<char*>(backend.alloc_aligned(offset, offset + span));
  } else {
    raw = static_cast<char*>(backend.alloc(offset + size));
  }
  if (CONCALLOC_UNLIKELY(raw == nullptr)) return Fail(kThrows);  // ALLOC-4
  Block* h = BlockOf(raw + offset);
  StoreHeader(h, kKindAligned, kStateLive, static_cast<std::uint64_t>(__builtin_ctzll(offset)), size);
  // CHK-FILL: in tool mode too, every usable byte (the requested ones,
  // SAN-USABLE) is 0xCD when handed out; memcheck then still sees them as
  // undefined (ToolBlockOut marks them after the fill).
  if constexpr (kChecked) FillUser(h, size, kFillLive);
  san::ToolBlockOut(raw, UserOf(h), size, span);
  return UserOf(h);
}
#if !CONCALLOC_LIBC_BACKEND  // MALLOC-LEAN: only the non-throwing form there
template void* ToolAlloc<true>(std::size_t, std::size_t);
#endif
template void* ToolAlloc<false>(std::size_t, std::size_t) noexcept;

namespace {

// SAN-DIRECT, CHK-FOREIGN: the backend block of a tool-mode block h, or
// nullptr when h is not one: its header is not a live tool-mode block's
// (checked builds), or the tool's allocator began no block where the header
// says (ASan). A freed block's header stays as it was (kToolOffset), so a
// double free reaches the tool, which reports it.
char* ToolRawOf(const Block* h) noexcept {
  constexpr bool kCheck = kMutant != kMutantToolForeign;
  const Tag tag = ReadTag(h);
  if (kCheck && kChecked && (!tag.ok || tag.kind != kKindAligned || tag.state != kStateLive))
    return nullptr;
  const std::size_t offset = tag.kind == kKindAligned && tag.aux >= 5 && tag.aux < 63
                                 ? std::size_t{1} << tag.aux
                                 : kToolOffset;
  char* raw = const_cast<char*>(static_cast<const char*>(UserOf(h))) - offset;
  if (kCheck && !san::ToolBlockStart(raw)) return nullptr;
  return raw;
}

CONCALLOC_COLD void ToolForeign(const void* p, const char* what) noexcept {
  Die("CHK-FOREIGN", p, what);
}

}  // namespace

void ToolFree(Block* h) noexcept {
  char* raw = ToolRawOf(h);
  if (raw == nullptr)
    ToolForeign(UserOf(h), "free of a pointer that Alloc never returned (tool mode: no block of "
                           "the tool's allocator has this header)");
  san::ToolBlockIn(UserOf(h));
  CurrentBackend().free(raw);
}

std::size_t ToolUsableSize(const void* p) noexcept {
  const Block* h = BlockOf(p);
  const char* raw = ToolRawOf(h);
  if (raw == nullptr)
    ToolForeign(p, "UsableSize of a pointer that Alloc never returned (tool mode: no block of "
                   "the tool's allocator has this header)");
  san::ToolCheckOwned(raw, p);  // SAN-DIRECT: a freed block, reported by the tool
  return LoadWord(h);           // SAN-USABLE: the requested size
}

}  // namespace concalloc::detail

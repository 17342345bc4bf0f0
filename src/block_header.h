// HDR-1, HDR-2: the 16-byte header in front of every block.
#ifndef CONCALLOC_SRC_BLOCK_HEADER_H
#define CONCALLOC_SRC_BLOCK_HEADER_H

#include <cstddef>
#include <cstdint>

#include "build_config.h"
#include "checked.h"
#include "sanitizer_hooks.h"
#include "size_classes.h"

namespace concalloc::detail {

// Layout (HDR-1), two 64-bit words in front of the caller's bytes:
//   tag   bits 0-7   kind: the class index 0..95, kKindLarge or kKindAligned
//         bits 8-15  aux: for kKindAligned, log2 of the offset from the
//                    backend's block to the caller's pointer
//         bits 16-23 state (checked builds): kStateLive, kStateCached
//         bits 32-63 kMagic (checked builds)
//         Checked builds XOR the whole tag with the process secret (HDR-2).
//   word  cached class block: the link to the next block of its list, that
//         block's caller address (XORed with the secret in checked builds:
//         CHK-ENCODE);
//         large or aligned block: its usable size; live class block: its
//         requested size in checked and tool builds (SAN-USABLE), else
//         whatever it held (release Alloc skips the store).
// In release builds a class block's tag is its class index, so Free needs
// one compare (tag < kNumClasses) to know it is cacheable.
struct BlockHeader {
  std::uint64_t tag;
  std::uint64_t word;
};
static_assert(sizeof(BlockHeader) == kHeaderSize, "HDR-1: 16-byte header");

constexpr std::uint64_t kKindAligned = 0xFD;
constexpr std::uint64_t kKindLarge = 0xFE;
constexpr std::uint64_t kStateLive = 0x4C;    // 'L'
constexpr std::uint64_t kStateCached = 0x43;  // 'C'
constexpr std::uint64_t kStateFreed = 0x46;   // 'F': given to the backend
constexpr std::uint64_t kMagic = 0xC0CA110Cull;
static_assert(kKindAligned >= kNumClasses && kKindLarge >= kNumClasses,
              "HDR-1: kinds never collide with class indexes");

// A block is named by the caller's address (what Alloc returns), never by
// its header's: lists, batches and the slow paths hold Block*, and the header
// is the 16 bytes below (HDR-1). So the fast paths (FAST-1) pop and push the
// very pointers they return and take, with no offset arithmetic. Block is
// incomplete on purpose: a Block* is never dereferenced, only passed to the
// accessors below, and must not reach the backend (RawOf gives its address).
// It is the public abi_v1::Block, which inline callers pop and push (INLINE-1).
using Block = abi_v1::Block;

CONCALLOC_ALWAYS_INLINE BlockHeader* HeaderAt(const Block* b) noexcept {
  return reinterpret_cast<BlockHeader*>(reinterpret_cast<std::uintptr_t>(b) - kHeaderSize);
}
// The block whose caller's pointer is p.
CONCALLOC_ALWAYS_INLINE Block* BlockOf(const void* p) noexcept {
  return reinterpret_cast<Block*>(const_cast<void*>(p));
}
CONCALLOC_ALWAYS_INLINE void* UserOf(Block* b) noexcept { return b; }
CONCALLOC_ALWAYS_INLINE const void* UserOf(const Block* b) noexcept { return b; }
// Class and large blocks: the backend's allocation starts at the header.
CONCALLOC_ALWAYS_INLINE void* RawOf(Block* b) noexcept { return HeaderAt(b); }
CONCALLOC_ALWAYS_INLINE Block* BlockAtRaw(void* raw) noexcept {
  return reinterpret_cast<Block*>(static_cast<char*>(raw) + kHeaderSize);
}

// Every access to a header goes through these (SAN-META): headers are
// inaccessible to the user under ASan and memcheck, never to the allocator.
CONCALLOC_ALWAYS_INLINE std::uint64_t LoadTag(const Block* b) noexcept {
  return san::LoadMeta(&HeaderAt(b)->tag);
}
CONCALLOC_ALWAYS_INLINE void StoreTag(Block* b, std::uint64_t v) noexcept {
  san::StoreMeta(&HeaderAt(b)->tag, v);
}
CONCALLOC_ALWAYS_INLINE std::uint64_t LoadWord(const Block* b) noexcept {
  return san::LoadMeta(&HeaderAt(b)->word);
}
CONCALLOC_ALWAYS_INLINE void StoreWord(Block* b, std::uint64_t v) noexcept {
  san::StoreMeta(&HeaderAt(b)->word, v);
}

CONCALLOC_ALWAYS_INLINE std::uint64_t MakeTag(std::uint64_t kind, std::uint64_t state,
                                              std::uint64_t aux = 0) noexcept {
  if constexpr (kChecked)
    return (kind | aux << 8 | state << 16 | kMagic << 32) ^ Secret();
  else
    return kind | aux << 8;
}

struct Tag {
  std::uint64_t kind, aux, state;
  bool magic_ok;  // always true in release builds
};
CONCALLOC_ALWAYS_INLINE Tag DecodeTag(std::uint64_t raw) noexcept {
  if constexpr (kChecked) raw ^= Secret();
  Tag t{raw & 0xFF, (raw >> 8) & 0xFF, (raw >> 16) & 0xFF, true};
  if constexpr (kChecked) t.magic_ok = (raw >> 32) == kMagic && ((raw >> 24) & 0xFF) == 0;
  return t;
}

CONCALLOC_ALWAYS_INLINE std::uint64_t EncodeLink(const Block* next) noexcept {
  std::uint64_t v = reinterpret_cast<std::uintptr_t>(next);
  if constexpr (kChecked) v ^= Secret();
  return v;
}
CONCALLOC_ALWAYS_INLINE Block* DecodeLink(std::uint64_t v) noexcept {
  if constexpr (kChecked) v ^= Secret();
  return reinterpret_cast<Block*>(static_cast<std::uintptr_t>(v));
}

// The caller's bytes in a block of class c.
CONCALLOC_ALWAYS_INLINE std::size_t UserBytes(std::size_t c) noexcept {
  return kClassSize[c] - kHeaderSize;
}

}  // namespace concalloc::detail

#endif

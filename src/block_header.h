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
//   word  cached class block: the link to the next block of its list
//         (XORed with the secret in checked builds: CHK-ENCODE);
//         large or aligned block: its usable size; live class block: 0.
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

// Every access to a header goes through these (SAN-META): headers are
// inaccessible to the user under ASan and memcheck, never to the allocator.
CONCALLOC_ALWAYS_INLINE std::uint64_t LoadTag(const BlockHeader* h) noexcept {
  return san::LoadMeta(&h->tag);
}
CONCALLOC_ALWAYS_INLINE void StoreTag(BlockHeader* h, std::uint64_t v) noexcept {
  san::StoreMeta(&h->tag, v);
}
CONCALLOC_ALWAYS_INLINE std::uint64_t LoadWord(const BlockHeader* h) noexcept {
  return san::LoadMeta(&h->word);
}
CONCALLOC_ALWAYS_INLINE void StoreWord(BlockHeader* h, std::uint64_t v) noexcept {
  san::StoreMeta(&h->word, v);
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

CONCALLOC_ALWAYS_INLINE std::uint64_t EncodeLink(const BlockHeader* next) noexcept {
  std::uint64_t v = reinterpret_cast<std::uintptr_t>(next);
  if constexpr (kChecked) v ^= Secret();
  return v;
}
CONCALLOC_ALWAYS_INLINE BlockHeader* DecodeLink(std::uint64_t v) noexcept {
  if constexpr (kChecked) v ^= Secret();
  return reinterpret_cast<BlockHeader*>(static_cast<std::uintptr_t>(v));
}

CONCALLOC_ALWAYS_INLINE BlockHeader* HeaderOf(const void* p) noexcept {
  return reinterpret_cast<BlockHeader*>(reinterpret_cast<std::uintptr_t>(p) - kHeaderSize);
}
CONCALLOC_ALWAYS_INLINE void* UserOf(BlockHeader* h) noexcept {
  return reinterpret_cast<char*>(h) + kHeaderSize;
}
// The caller's bytes in a block of class c.
CONCALLOC_ALWAYS_INLINE std::size_t UserBytes(std::size_t c) noexcept {
  return kClassSize[c] - kHeaderSize;
}

}  // namespace concalloc::detail

#endif

// SIZE-1, SIZE-2: the size classes. One table, pinned by static_asserts and
// checked for every size by proptests/size_class_test.cpp.
#ifndef CONCALLOC_SRC_SIZE_CLASSES_H
#define CONCALLOC_SRC_SIZE_CLASSES_H

#include <array>
#include <cstddef>
#include <cstdint>

#include "build_config.h"
#include "platform.h"

namespace concalloc::detail {

// HDR-1: every block starts with a 16-byte header; the caller's bytes follow,
// so they keep the backend's 16-byte alignment.
constexpr std::size_t kHeaderSize = 16;
constexpr std::size_t kAlignment = 16;

constexpr std::size_t kNumClasses = 96;

// kClassSize[c]: the total bytes of a block of class c, header included.
// Why these: the original's 96 buckets, which are the Windows
// low-fragmentation heap's: 16-byte steps from 16 to 512 (32 classes), then
// 16 classes per doubling (steps of 32, 64, 128, 256) up to 8192. Every size
// is a multiple of 16, so a class is found by one table lookup on
// ceil(total / 16) (kClassOfGranule below), and internal waste stays under
// 1/16 of the block above 512 bytes.
constexpr std::array<std::uint16_t, kNumClasses> MakeClassSizes() {
  std::array<std::uint16_t, kNumClasses> sizes{};
  std::size_t c = 0;
  for (std::size_t s = 16; s <= 512; s += 16) sizes[c++] = static_cast<std::uint16_t>(s);
  for (std::size_t step = 32; step <= 256; step *= 2)
    for (std::size_t i = 1; i <= 16; ++i)
      sizes[c++] = static_cast<std::uint16_t>(step * 16 + step * i);
  return sizes;
}
inline constexpr std::array<std::uint16_t, kNumClasses> kClassSize = MakeClassSizes();

constexpr std::size_t kMaxClassSize = 8192;
// SIZE-2: the largest request served from a size class.
constexpr std::size_t kMaxSmallSize = kMaxClassSize - kHeaderSize;

static_assert(kClassSize[0] == 16 && kClassSize[31] == 512, "SIZE-1: 16-byte steps to 512");
static_assert(kClassSize[32] == 544 && kClassSize[47] == 1024, "SIZE-1: 32-byte steps to 1024");
static_assert(kClassSize[48] == 1088 && kClassSize[63] == 2048, "SIZE-1: 64-byte steps to 2048");
static_assert(kClassSize[64] == 2176 && kClassSize[79] == 4096, "SIZE-1: 128-byte steps to 4096");
static_assert(kClassSize[80] == 4352 && kClassSize[95] == kMaxClassSize,
              "SIZE-1: 256-byte steps to 8192");

constexpr bool ClassSizesAscendAndAlign() {
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    if (kClassSize[c] % kAlignment != 0) return false;
    if (c > 0 && kClassSize[c] <= kClassSize[c - 1]) return false;
  }
  return true;
}
static_assert(ClassSizesAscendAndAlign(), "SIZE-1: ascending multiples of 16");

// INV-CACHE-BOUND's formula: a thread caches at most depth * this many bytes.
constexpr std::size_t SumOfClassSizes() {
  std::size_t sum = 0;
  for (std::size_t c = 0; c < kNumClasses; ++c) sum += kClassSize[c];
  return sum;
}
static_assert(SumOfClassSizes() == 196608, "INV-CACHE-BOUND: 192 KiB per unit of depth");

// kClassOfGranule[g]: the smallest class whose size is >= 16 * g.
constexpr std::size_t kNumGranules = kMaxClassSize / 16 + 1;
constexpr std::array<std::uint8_t, kNumGranules> MakeClassOfGranule() {
  std::array<std::uint8_t, kNumGranules> table{};
  std::size_t c = 0;
  for (std::size_t g = 0; g < kNumGranules; ++g) {
    while (kClassSize[c] < g * 16) ++c;
    table[g] = static_cast<std::uint8_t>(c);
  }
  return table;
}
inline constexpr std::array<std::uint8_t, kNumGranules> kClassOfGranule = MakeClassOfGranule();

constexpr bool ClassOfGranuleIsSmallest() {
  for (std::size_t g = 1; g < kNumGranules; ++g) {
    std::size_t c = kClassOfGranule[g];
    if (kClassSize[c] < g * 16) return false;
    if (c > 0 && kClassSize[c - 1] >= g * 16) return false;
  }
  return true;
}
static_assert(ClassOfGranuleIsSmallest(), "SIZE-1: smallest class that fits");

// SIZE-1: the granule (16-byte units, rounded up) of a request of `size`
// bytes with its header, size <= kMaxSmallSize; and its class.
CONCALLOC_ALWAYS_INLINE std::size_t GranuleOfSize(std::size_t size) noexcept {
  constexpr std::size_t header = kMutant == kMutantSizeClass ? 0 : kHeaderSize;
  return (size + header + 15) >> 4;
}
CONCALLOC_ALWAYS_INLINE std::size_t ClassOfSize(std::size_t size) noexcept {
  return kClassOfGranule[GranuleOfSize(size)];
}

}  // namespace concalloc::detail

#endif

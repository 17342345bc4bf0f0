// SIZE-1, SIZE-2: the size classes. One table (in include/concalloc/inline.h),
// pinned by the static_asserts here and checked for every size by
// proptests/size_class_test.cpp.
#ifndef CONCALLOC_SRC_SIZE_CLASSES_H
#define CONCALLOC_SRC_SIZE_CLASSES_H

#include <array>
#include <cstddef>
#include <cstdint>

#include <concalloc/inline.h>

#include "platform/build_config.h"
#include "platform/platform.h"
#include "modes/sanitizer_hooks.h"

namespace concalloc::detail {

// The table itself is public (include/concalloc/inline.h), because inline
// callers look classes up too (INLINE-1): one table, for them and the library.
using abi_v4::kAlignment;
using abi_v4::kClassSize;
using abi_v4::kMaxClassSize;
using abi_v4::kNumClasses;

// HDR-1: what a class block's header takes in this build. One word (the
// tag) where blocks are carved from spans and the header needs no more:
// release builds, TSan's and the trace build included (abi_v4's
// kHeaderSize, which inline callers use). Two words (the tag, and below it
// a word that checked builds' HDR-2 check covers and that ASan's and
// memcheck's builds keep the requested size in, SAN-USABLE) in checked
// builds and in builds for ASan and memcheck; their inline callers always
// call the library (INLINE-2). Large and aligned blocks always have both
// words (kLargeHeader).
constexpr bool kShortHeader = !kChecked && !san::kAsan && !san::kValgrind;
constexpr std::size_t kBlockHeader = kShortHeader ? 8 : 16;
constexpr std::size_t kLargeHeader = 16;
static_assert(!kShortHeader || kBlockHeader == abi_v4::kHeaderSize,
              "INLINE-3: the inline callers' header is the library's");
// SIZE-2: the largest request served from a size class in this build.
constexpr std::size_t kMaxSmall = kMaxClassSize - kBlockHeader;

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

using abi_v4::kClassOfGranule;
using abi_v4::kNumGranules;

constexpr bool ClassOfGranuleIsSmallest() {
  for (std::size_t g = 1; g < kNumGranules; ++g) {
    std::size_t c = kClassOfGranule[g];
    if (kClassSize[c] < g * 16) return false;
    if (c > 0 && kClassSize[c - 1] >= g * 16) return false;
  }
  return true;
}
static_assert(ClassOfGranuleIsSmallest(), "SIZE-1: smallest class that fits");

// SIZE-1: the class of a request of `size` <= kMaxSmall bytes; in builds
// with the short header, the inline callers' lookup (abi_v4::ClassOfSize);
// the size_class mutant forgets the header.
CONCALLOC_ALWAYS_INLINE std::size_t ClassOfSize(std::size_t size) noexcept {
  if constexpr (kMutant == kMutantSizeClass) return kClassOfGranule[(size + 15) >> 4];
  if constexpr (kShortHeader) return abi_v4::ClassOfSize(size);
  return kClassOfGranule[(size + kBlockHeader + 15) >> 4];
}

}  // namespace concalloc::detail

#endif

// SIZE-1, SIZE-2, USABLE-1: every size from 0 to 9000, and a sample above,
// against a reference written from the spec's words, not from the table.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <concalloc/concalloc.h>

#include "cache/size_classes.h"

namespace {

using concalloc::detail::kClassSize;
using concalloc::detail::kNumClasses;

// SIZE-1 in words: size plus the header (HDR-1: 8 bytes, or 16 in checked
// builds and builds for ASan and memcheck), rounded up in 16-byte steps to
// 512, then 32-byte steps to 1024, 64 to 2048, 128 to 4096, 256 to 8192.
std::size_t ReferenceClassBytes(std::size_t size, std::size_t header) {
  const std::size_t total = size + header;
  std::size_t step = 16;
  for (std::size_t top = 512; top < total; top *= 2) step = top / 16;
  return (total + step - 1) / step * step;
}

TEST(SizeClasses, TableHas96ClassesUpTo8192) {
  EXPECT_EQ(kNumClasses, 96u) << "SIZE-1";
  EXPECT_EQ(kClassSize[kNumClasses - 1], 8192u) << "SIZE-1";
}

// The inline callers' lookup (abi_v4, INLINE-3: the one-word header).
TEST(SizeClasses, EverySizeTo9000MapsToTheSmallestClassThatFits) {
  namespace abi = concalloc::abi_v4;
  for (std::size_t size = 0; size <= 9000; ++size) {
    if (size + abi::kHeaderSize <= 8192) {
      const std::size_t c = abi::ClassOfSize(size);
      ASSERT_LT(c, kNumClasses) << "SIZE-1 size " << size;
      ASSERT_EQ(kClassSize[c], ReferenceClassBytes(size, abi::kHeaderSize))
          << "SIZE-1 size " << size;
    } else {
      ASSERT_GT(size, abi::kMaxSmallSize) << "SIZE-2 size " << size;
    }
  }
}

// The library's, with its build's header.
TEST(SizeClasses, UsableSizeOfEverySizeTo9000) {
  const std::size_t header = concalloc::GetBuildInfo().header_bytes;
  ASSERT_TRUE(header == 8 || header == 16) << "HDR-1: one word or two";
  for (std::size_t size = 0; size <= 9000; ++size) {
    void* p = concalloc::Alloc(size);
    const std::size_t usable = concalloc::UsableSize(p);
    if (concalloc::GetBuildInfo().exact_usable_size)
      ASSERT_EQ(usable, size) << "SAN-USABLE size " << size;
    else if (size + header <= 8192)
      ASSERT_EQ(usable, ReferenceClassBytes(size, header) - header) << "USABLE-1 size " << size;
    else
      ASSERT_EQ(usable, size) << "SIZE-2: a large block's usable size is its size " << size;
    concalloc::Free(p);
  }
}

RC_GTEST_PROP(SizeClasses, SizesAbove9000AreLargeBlocksOfTheirOwnSize, ()) {
  const std::size_t size = *rc::gen::inRange<std::size_t>(9001, 4 << 20);
  void* p = concalloc::Alloc(size);
  if (concalloc::UsableSize(p) != size) {
    concalloc::Free(p);
    RC_FAIL("SIZE-2: a large block's usable size is not its size");
  }
  static_cast<char*>(p)[size - 1] = 1;
  concalloc::Free(p);
}

}  // namespace

// SAN-DIRECT in a checked build under ASan (tool mode, the default): what
// tool mode keeps of the checked build's clauses (SPEC.md, SAN-DIRECT).
#include <sanitizer/allocator_interface.h>

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <concalloc/concalloc.h>

namespace {

// A tool-mode block lies 32 bytes (or its alignment) into a block of the
// tool's own allocator; with the caches it would not.
bool IsToolModeBlock(void* p, std::size_t below) {
  return __sanitizer_get_ownership(static_cast<char*>(p) - below) != 0;
}

TEST(ToolMode, IsOnByDefaultUnderAsan) {
  void* p = concalloc::Alloc(64);
  EXPECT_TRUE(IsToolModeBlock(p, 32)) << "SAN-DIRECT: not a block of ASan's allocator";
  concalloc::Free(p);
}

// CHK-FILL: every usable byte of a new block is 0xCD, in tool mode too:
// class sizes across every step of the table (the largest class among
// them), large blocks, and aligned ones (a fuzzer found a class block of
// 8160 bytes and AllocAligned(120529, 1024) that were not).
TEST(ToolMode, CHK_FILL_every_new_block_is_0xCD) {
  ASSERT_TRUE(concalloc::GetBuildInfo().checked) << "a checked build's test";
  std::vector<std::pair<std::size_t, std::size_t>> cases;  // size, alignment
  for (std::size_t n : {0, 1, 15, 16, 100, 500, 1000, 2000, 4000, 4096, 8160, 8176, 8177, 20000,
                        120529})
    for (std::size_t a : {0, 32, 64, 1024, 4096}) cases.emplace_back(n, a);
  for (auto [n, a] : cases) {
    auto* p = static_cast<unsigned char*>(a == 0 ? concalloc::Alloc(n)
                                                 : concalloc::AllocAligned(n, a));
    const std::size_t usable = concalloc::UsableSize(p);
    ASSERT_GE(usable, n) << "USABLE-1";
    for (std::size_t k = 0; k < usable; ++k)
      ASSERT_EQ(p[k], 0xCD) << "CHK-FILL: byte " << k << " of a new block of " << n
                            << " bytes, alignment " << a << ", in tool mode";
    // Written and freed, then asked again: the new block is filled anew.
    for (std::size_t k = 0; k < usable; ++k) p[k] = 0x11;
    concalloc::Free(p);
    p = static_cast<unsigned char*>(a == 0 ? concalloc::Alloc(n) : concalloc::AllocAligned(n, a));
    for (std::size_t k = 0; k < concalloc::UsableSize(p); ++k)
      ASSERT_EQ(p[k], 0xCD) << "CHK-FILL: byte " << k << " of a reused block of " << n << " bytes";
    concalloc::Free(p);
  }
}

}  // namespace

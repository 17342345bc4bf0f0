// Checked builds (CHK-*): client misuse gets one line naming the clause and
// the address, then abort(). Linked only into binaries built on a checked
// library, so none of these is ever skipped.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <concalloc/concalloc.h>

#include "test_support.h"

namespace {

std::string Hex(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

// CHK-DIAG: "concalloc: <ID>: <what> at <address>", one line.
std::string Diag(const char* clause, const void* address) {
  return std::string("concalloc: ") + clause + ": [^\n]* at " + Hex(address) + "\n";
}

class Checked : public ::testing::Test {
 protected:
  void SetUp() override {
    // "fast": the child is a fork, so addresses match the parent's.
    GTEST_FLAG_SET(death_test_style, "fast");
    ASSERT_TRUE(concalloc::GetBuildInfo().checked) << "BUILD-1: a checked library";
  }
  concalloc::test::ScopedDepth depth_{8};
};

TEST_F(Checked, DoubleFreeIsReported) {
  void* p = concalloc::Alloc(64);
  concalloc::Free(p);
  EXPECT_DEATH(concalloc::Free(p), Diag("CHK-DOUBLE", p))
      << "CHK-DOUBLE: a second Free of a cached block must be reported";
}

TEST_F(Checked, ForeignPointersAreReported) {
  alignas(16) static unsigned char not_a_block[64] = {};
  EXPECT_DEATH(concalloc::Free(not_a_block + 16), Diag("CHK-FOREIGN", not_a_block + 16))
      << "CHK-FOREIGN: no header";
  EXPECT_DEATH(concalloc::Free(not_a_block + 24), Diag("CHK-FOREIGN", not_a_block + 24))
      << "CHK-FOREIGN: misaligned";
  void* from_malloc = std::malloc(64);
  EXPECT_DEATH(concalloc::Free(from_malloc), Diag("CHK-FOREIGN", from_malloc))
      << "CHK-FOREIGN: a malloc block";
  std::free(from_malloc);
}

// Frees a 64-byte block, writes into it (the user's bug), and expects its
// reuse to report CHK-WAF with the written address; `why` names the clause.
template <class AllocFn, class FreeFn>
void ExpectWriteAfterFreeFoundOnReuse(AllocFn alloc, FreeFn free_fn, const char* why) {
  auto* p = static_cast<unsigned char*>(alloc(64));
  free_fn(p);
  concalloc::test::PokeByte(p + 5, 1);
  EXPECT_DEATH(alloc(64), Diag("CHK-WAF", p + 5)) << why;
  concalloc::test::PokeByte(p + 5, 0xDD);
}

TEST_F(Checked, WriteAfterFreeIsReportedOnReuse) {
  ExpectWriteAfterFreeFoundOnReuse(concalloc::Alloc, concalloc::Free,
                                   "CHK-WAF: the 0xDD fill is verified on reuse");
}

// INLINE-2: a checked library keeps its cache from inline callers, so the
// write is still found when the block is reused through the inline path.
TEST_F(Checked, InlineCallersGetTheChecks) {
  ExpectWriteAfterFreeFoundOnReuse(
      [](std::size_t n) { return concalloc::InlineAlloc(n); },
      [](void* p) { concalloc::InlineFree(p); },
      "INLINE-2: InlineAlloc reused a block without the CHK-WAF check");
}


TEST_F(Checked, CorruptListIsReported) {
  auto* p = static_cast<unsigned char*>(concalloc::Alloc(64));
  concalloc::Free(p);
  auto* header = reinterpret_cast<std::uint64_t*>(p) - 2;
  using concalloc::test::PeekWord;
  using concalloc::test::PokeWord;
  const std::uint64_t saved = PeekWord(&header[0]);
  PokeWord(&header[0], 0);
  EXPECT_DEATH(concalloc::Alloc(64), Diag("CHK-LIST", p)) << "CHK-LIST: tag overwritten";
  PokeWord(&header[0], saved);
  PokeWord(&header[1], PeekWord(&header[1]) ^ 0x4);
  EXPECT_DEATH(concalloc::Alloc(64), Diag("CHK-LIST", p)) << "CHK-LIST: link overwritten";
  PokeWord(&header[1], PeekWord(&header[1]) ^ 0x4);
}

TEST_F(Checked, FillPatterns) {
  auto* p = static_cast<unsigned char*>(concalloc::Alloc(100));
  const std::size_t n = concalloc::UsableSize(p);
  for (std::size_t k = 0; k < n; ++k) ASSERT_EQ(p[k], 0xCD) << "CHK-FILL: handed out";
  concalloc::Free(p);
  for (std::size_t k = 0; k < n; ++k)
    ASSERT_EQ(concalloc::test::PeekByte(p + k), 0xDD) << "CHK-FILL: cached";
  auto* large = static_cast<unsigned char*>(concalloc::Alloc(10000));
  for (std::size_t k = 0; k < 10000; ++k) ASSERT_EQ(large[k], 0xCD) << "CHK-FILL: large";
  concalloc::Free(large);
}

TEST_F(Checked, TagsAndLinksAreEncoded) {
  void* a = concalloc::Alloc(64);
  void* b = concalloc::Alloc(64);
  concalloc::Free(a);
  concalloc::Free(b);  // b -> a
  const auto* hb = static_cast<const std::uint64_t*>(b) - 2;
  const auto a_header = reinterpret_cast<std::uintptr_t>(a) - 16;
  EXPECT_NE(concalloc::test::PeekWord(&hb[1]), a_header)
      << "CHK-ENCODE: the link is not stored in the clear";
  EXPECT_GE(concalloc::test::PeekWord(&hb[0]), 96u)
      << "CHK-ENCODE: the tag is not the bare class index";
  EXPECT_EQ(concalloc::Alloc(64), b);
  EXPECT_EQ(concalloc::Alloc(64), a) << "CHK-ENCODE: the link decodes";
  concalloc::Free(a);
  concalloc::Free(b);
}

TEST_F(Checked, ValidateFindsAChangedFill) {
  auto* p = static_cast<unsigned char*>(concalloc::Alloc(64));
  concalloc::Free(p);
  concalloc::test::PokeByte(p + 20, 0);
  const concalloc::ValidationResult r = concalloc::Validate();
  ASSERT_FALSE(r) << "INV-FILL";
  EXPECT_STREQ(r.clause, "INV-FILL");
  EXPECT_EQ(r.address, p + 20) << "INV-FILL: the address of the changed byte";
  concalloc::test::PokeByte(p + 20, 0xDD);
  EXPECT_TRUE(concalloc::Validate()) << "INV-FILL after repair";
}

}  // namespace

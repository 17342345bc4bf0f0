// Checked builds (CHK-*): client misuse gets one line naming the clause and
// the address, then abort(). Linked only into binaries built on a checked
// library, so none of these is ever skipped.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

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

std::string DiagOneOf(const char* clauses, const void* address) {
  return std::string("concalloc: (") + clauses + "): [^\n]* at " + Hex(address) + "\n";
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
  // HDR-1: the tag right below the caller's bytes, the word below it.
  auto* tag = reinterpret_cast<std::uint64_t*>(p) - 1;
  auto* word = reinterpret_cast<std::uint64_t*>(p) - 2;
  using concalloc::test::PeekWord;
  using concalloc::test::PokeWord;
  const std::uint64_t saved = PeekWord(tag);
  PokeWord(tag, 0);
  EXPECT_DEATH(concalloc::Alloc(64), Diag("CHK-LIST", p)) << "CHK-LIST: tag overwritten";
  PokeWord(tag, saved);
  PokeWord(word, PeekWord(word) ^ 0x4);
  EXPECT_DEATH(concalloc::Alloc(64), Diag("CHK-LIST", p)) << "CHK-LIST: link overwritten";
  PokeWord(word, PeekWord(word) ^ 0x4);
}

// HDR-2, CHK-FOREIGN: the tag's integrity check covers every bit of the
// header. A one-bit flip anywhere in a live block's tag (its class index
// included), or a one-byte write at p[-16] or p[-8], is reported at Free
// instead of filing the block under another class.
TEST_F(Checked, EveryBitOfALiveBlocksHeaderIsChecked) {
  auto* p = static_cast<unsigned char*>(concalloc::Alloc(64));
  auto* header = reinterpret_cast<std::uint64_t*>(p) - 2;
  using concalloc::test::PeekWord;
  using concalloc::test::PokeWord;
  for (int word = 0; word < 2; ++word) {
    const std::uint64_t saved = PeekWord(&header[word]);
    for (int bit = 0; bit < 64; ++bit) {
      PokeWord(&header[word], saved ^ (std::uint64_t{1} << bit));
      EXPECT_DEATH(concalloc::Free(p), Diag("CHK-FOREIGN", p))
          << "HDR-2: header word " << word << ", bit " << bit << " flipped";
    }
    PokeWord(&header[word], saved);
  }
  for (int offset : {-16, -13, -8, -1}) {
    const unsigned char saved = concalloc::test::PeekByte(p + offset);
    concalloc::test::PokeByte(p + offset, static_cast<unsigned char>(saved ^ 0x41));
    EXPECT_DEATH(concalloc::Free(p), Diag("CHK-FOREIGN", p))
        << "HDR-2: a one-byte write at p[" << offset << "]";
    concalloc::test::PokeByte(p + offset, saved);
  }
  concalloc::Free(p);
}

// Frees `n` blocks of 64 bytes into an emptied list, in the order of `out`
// (so out[n - 1] is the top).
void FreeIntoEmptyList(unsigned char** out, int n) {
  for (int i = 0; i < n; ++i) out[i] = static_cast<unsigned char*>(concalloc::Alloc(64));
  concalloc::FlushThreadCache();
  for (int i = 0; i < n; ++i) concalloc::Free(out[i]);
}

// A cached block's link overwritten with another aligned address: every
// path that follows the link reports it (CHK-LIST) instead of crashing.
void CorruptLink(unsigned char* p) {
  auto* link = reinterpret_cast<std::uint64_t*>(p) - 1;
  concalloc::test::PokeWord(link, concalloc::test::PeekWord(link) ^ (std::uint64_t{1} << 40));
}

TEST_F(Checked, ACorruptLinkIsReportedOnEveryPathThatFollowsIt) {
  concalloc::test::ScopedDepth depth(4);  // a spill moves the top 2 blocks
  auto* extra = static_cast<unsigned char*>(concalloc::Alloc(64));  // stays live
  unsigned char* b[4];
  FreeIntoEmptyList(b, 4);  // list: b3 b2 b1 b0, full
  CorruptLink(b[3]);
  EXPECT_DEATH(concalloc::Alloc(64), Diag("CHK-LIST", b[3])) << "CHK-LIST: Alloc pops b3";
  EXPECT_DEATH(concalloc::FlushThreadCache(), Diag("CHK-LIST", b[3])) << "CHK-LIST: a flush";
  EXPECT_DEATH(concalloc::Free(extra), Diag("CHK-LIST", b[3]))
      << "CHK-LIST: a spill walks the list (the list is full)";
  CorruptLink(b[3]);
  concalloc::Free(extra);
  concalloc::Trim();
}

TEST_F(Checked, ACorruptLinkInTheDepotIsReportedWhenItIsTrimmed) {
  concalloc::test::ScopedDepth depth(4);
  unsigned char* b[5];
  FreeIntoEmptyList(b, 5);  // the fifth Free spills b3 b2 to the depot
  CorruptLink(b[3]);
  // (With tier 3 on, the walk after the flush finds it first: INV-DEPOT.)
  EXPECT_DEATH(concalloc::Trim(), DiagOneOf("CHK-LIST|INV-DEPOT", b[3])) << "CHK-LIST: DepotTrim";
  CorruptLink(b[3]);
  concalloc::Trim();
}

// CHK-WAF: a write after free is found whichever way the block leaves the
// cache: to the user, or to the backend through the depot.
TEST_F(Checked, WriteAfterFreeIsReportedWhenTheDepotTrims) {
  concalloc::test::ScopedDepth depth(4);
  unsigned char* b[5];
  FreeIntoEmptyList(b, 5);  // b3 b2 in the depot
  // A block of their span stays out, so that Trim's own check is what finds
  // the write (a span that went empty would verify its blocks too,
  // ScrubEmptySpan, and hide mutant trim_unverified).
  void* keep = concalloc::Alloc(64);
  concalloc::test::PokeByte(b[2] + 7, 1);
  EXPECT_DEATH(concalloc::Trim(), Diag("CHK-WAF", b[2] + 7)) << "CHK-WAF: DepotTrim";
  concalloc::test::PokeByte(b[2] + 7, 0xDD);
  concalloc::Trim();
  concalloc::Free(keep);
}

TEST_F(Checked, WriteAfterFreeIsReportedWhenTheDepotRefusesABatch) {
  concalloc::test::ScopedDepth depth(4);
  concalloc::test::ScopedDepotBudget budget(1);  // every batch is refused
  void* extra = concalloc::Alloc(64);
  unsigned char* b[4];
  FreeIntoEmptyList(b, 4);  // list: b3 b2 b1 b0, full
  concalloc::test::PokeByte(b[3] + 9, 1);
  EXPECT_DEATH(concalloc::Free(extra), Diag("CHK-WAF", b[3] + 9))
      << "CHK-WAF: Free spills b3 b2, the depot refuses them, they go to the backend";
  concalloc::test::PokeByte(b[3] + 9, 0xDD);
  concalloc::Free(extra);
  concalloc::FlushThreadCache();
}

TEST_F(Checked, WriteAfterFreeIsReportedWhenAnExitedThreadsBlocksLeaveAtProcessExit) {
  EXPECT_DEATH(
      {
        std::thread([] {
          auto* p = static_cast<unsigned char*>(concalloc::Alloc(64));
          concalloc::Free(p);
          concalloc::test::PokeByte(p + 11, 1);
        }).join();     // DEPOT-EXIT: its list goes to the depot
        std::exit(0);  // LIFE-3: the depot is trimmed at exit
      },
      "concalloc: CHK-WAF: [^\n]* at 0x[0-9a-f]*[0-9a-f]b\n")
      << "CHK-WAF: a block that left a thread at its exit, verified at process exit";
}

// CHK-WAF: a block that waits in its span (issue #35: freed on a thread that
// exits, its cache flushed, then taken again) is verified when it leaves
// the span, whichever way: from the span's free list (a block of its span
// still out), or carved again after its span went empty and was kept (Trim
// first, so that no other span of the class is kept). The write lands in
// the first word, where a program's `next` field or vtable pointer is.
void ExpectWriteInSpanFound(bool keep_span_busy, std::size_t offset) {
  concalloc::FlushThreadCache();
  concalloc::Trim();
  auto* p = static_cast<unsigned char*>(concalloc::Alloc(700));
  void* busy = keep_span_busy ? concalloc::Alloc(700) : nullptr;  // carved after p
  concalloc::Free(p);
  concalloc::FlushThreadCache();  // p to its span
  concalloc::test::PokeByte(p + offset, 1);
  EXPECT_DEATH(
      {
        for (int k = 0; k < 100; ++k) (void)concalloc::Alloc(700);
      },
      Diag("CHK-WAF", p + offset))
      << "CHK-WAF: a write into a block free in its span ("
      << (keep_span_busy ? "on its free list" : "its span emptied") << "), byte " << offset;
  concalloc::test::PokeByte(p + offset, 0xDD);
  if (busy != nullptr) concalloc::Free(busy);
}

TEST_F(Checked, WriteAfterFreeIsReportedWhenTheBlockLeavesItsSpan) {
  if (!concalloc::GetBuildInfo().spans) {
    // HEAP-SPAN: builds for ASan and memcheck have no spans; a flushed block
    // goes back to the tool's allocator, which reports writes into it.
    EXPECT_TRUE(concalloc::GetBuildInfo().exact_usable_size)
        << "HEAP-SPAN: only the tools' builds go without spans";
    return;
  }
  ExpectWriteInSpanFound(true, 0);
  ExpectWriteInSpanFound(true, 5);
  ExpectWriteInSpanFound(false, 0);
  ExpectWriteInSpanFound(false, 5);
}

// CHK-DOUBLE, CHK-FOREIGN: a second Free after the block's memory went back
// to the backend (a flush and Trim return its span; a large block goes back
// at once) is a diagnostic line and abort(), never a SIGSEGV, even when the
// backend unmapped that memory (spans of 8 KiB blocks and large blocks are
// above glibc's mmap threshold).
TEST_F(Checked, DoubleFreeAfterItsMemoryWentBackIsReported) {
  if (!concalloc::GetBuildInfo().spans) {
    // Builds for ASan and memcheck: the memory given back is the tool's
    // (its metadata overwrites the header), and the tool reports the
    // double free itself (SAN-DIRECT).
    EXPECT_TRUE(concalloc::GetBuildInfo().exact_usable_size)
        << "HEAP-SPAN: only the tools' builds go without spans";
    return;
  }
  for (std::size_t size : {std::size_t{64}, std::size_t{700}, std::size_t{8000},
                           std::size_t{1} << 20}) {
    void* p = concalloc::Alloc(size);
    concalloc::Free(p);
    concalloc::FlushThreadCache();
    concalloc::Trim();
    EXPECT_DEATH(concalloc::Free(p), DiagOneOf("CHK-DOUBLE|CHK-FOREIGN", p))
        << "a double free of a " << size << "-byte block after Flush and Trim";
  }
  void* unmapped = reinterpret_cast<void*>(std::uintptr_t{1} << 46);
  EXPECT_DEATH(concalloc::Free(unmapped), Diag("CHK-FOREIGN", unmapped))
      << "CHK-FOREIGN: a pointer into no mapping";
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
  const auto* hb = static_cast<const std::uint64_t*>(b) - 2;  // HDR-1: word, then tag
  const auto a_link = reinterpret_cast<std::uintptr_t>(a);  // links name caller pointers
  if (concalloc::test::kAsan)
    EXPECT_EQ(concalloc::test::PeekWord(&hb[0]), a_link)
        << "CHK-ENCODE, SAN-LEAK: under ASan the link is in the clear, for LeakSanitizer";
  else
    EXPECT_NE(concalloc::test::PeekWord(&hb[0]), a_link)
        << "CHK-ENCODE: the link is not stored in the clear";
  EXPECT_GE(concalloc::test::PeekWord(&hb[1]), 96u)
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

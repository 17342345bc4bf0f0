// HDR-1, HDR-2: the header in front of every block.
#ifndef CONCALLOC_SRC_BLOCK_HEADER_H
#define CONCALLOC_SRC_BLOCK_HEADER_H

#include <cstddef>
#include <cstdint>

#include "platform/build_config.h"
#include "modes/checked.h"
#include "modes/sanitizer_hooks.h"
#include "cache/size_classes.h"

namespace concalloc::detail {

// Layout (HDR-1): the tag is the 64-bit word right below the caller's bytes;
// the word below it is the block's own in large and aligned blocks, and in
// every block of checked builds and of builds for ASan and memcheck
// (kBlockHeader 16); a release build's class block (kShortHeader: one word,
// kBlockHeader 8) does not have it: those 8 bytes are the end of the slot
// before it in the span (HEAP-SPAN), and nothing here reads or writes them.
//   tag   bits 0-7   kind: the class index 0..95, kKindLarge or kKindAligned
//         bits 8-15  aux: for kKindAligned, log2 of the offset from the
//                    backend's block to the caller's pointer
//         bits 16-23 state (checked builds): kStateLive, kStateCached,
//                    kStateFreed
//         bits 24-63 (checked builds) the header's check: 40 bits of a hash,
//                    keyed by the process secret, of bits 0-23 and of the
//                    word as stored (HDR-2)
//         Checked builds XOR the whole tag with the process secret (HDR-2).
//         Release builds: a cached class block's tag is its link (HARD-LINK,
//         below), not its class.
//   word  cached class block, checked builds: the link to the next block of
//         its list, that block's caller address XORed with the secret
//         (CHK-ENCODE);
//         large or aligned block: its usable size; live class block: its
//         requested size in checked and tool builds (SAN-USABLE); not there
//         in release class blocks.
// In checked builds the two words change together (StoreHeader), and every
// reader checks them together (ReadTag): a change to any bit of either is
// seen, unless it happens to keep the 40-bit check right (odds of 2^-40 for
// a change made without the secret).
// In release builds a live class block's tag is its class index, so Free
// needs one compare (tag < kNumClasses) to know it is cacheable; a cached
// one's tag is its link, keyed (HARD-LINK):
//   tag = next ^ key,  key = the process secret with bit 63 set,
// where next (a user-space address or nullptr) has bit 63 clear. So a
// cached block's tag has bit 63 set: never a class index, so Free of a
// cached block never takes the fast path, and its slow path stops it
// (HARD-DOUBLE); and a link decodes to a value with bit 63 clear unless it
// was written without the key, which the pop that reads it stops
// (HARD-LINK). CONCALLOC_HARDENED=OFF: key 0, no checks (the links in
// clear; what a double free does is then undefined, as in the original).
struct BlockHeader {
  std::uint64_t word;
  std::uint64_t tag;
};
static_assert(sizeof(BlockHeader) == kLargeHeader, "HDR-1: two words at most");

constexpr std::uint64_t kKindAligned = 0xFD;
constexpr std::uint64_t kKindLarge = 0xFE;
constexpr std::uint64_t kStateLive = 0x4C;    // 'L'
constexpr std::uint64_t kStateCached = 0x43;  // 'C'
constexpr std::uint64_t kStateFreed = 0x46;   // 'F': given to the backend
// HEAP-LINK: a class block free in its span (release builds).
constexpr std::uint64_t kKindSpanFree = 0xFC;
static_assert(kKindAligned >= kNumClasses && kKindLarge >= kNumClasses &&
                  kKindSpanFree >= kNumClasses,
              "HDR-1: kinds never collide with class indexes");

// A block is named by the caller's address (what Alloc returns), never by
// its header's: lists, batches and the slow paths hold Block*, and the header
// is the 16 bytes below (HDR-1). So the fast paths (FAST-1) pop and push the
// very pointers they return and take, with no offset arithmetic. Block is
// incomplete on purpose: a Block* is never dereferenced, only passed to the
// accessors below, and must not reach the backend (RawOf gives its address).
// It is the public abi_v4::Block, which inline callers pop and push (INLINE-1).
using Block = abi_v4::Block;

// The two words below b (the first of which a release class block does not
// own: only large and aligned blocks, and blocks of builds with the long
// header, use it).
CONCALLOC_ALWAYS_INLINE BlockHeader* HeaderAt(const Block* b) noexcept {
  return reinterpret_cast<BlockHeader*>(reinterpret_cast<std::uintptr_t>(b) - kLargeHeader);
}
// The block whose caller's pointer is p.
CONCALLOC_ALWAYS_INLINE Block* BlockOf(const void* p) noexcept {
  return reinterpret_cast<Block*>(const_cast<void*>(p));
}
CONCALLOC_ALWAYS_INLINE void* UserOf(Block* b) noexcept { return b; }
CONCALLOC_ALWAYS_INLINE const void* UserOf(const Block* b) noexcept { return b; }
// Large blocks (and class blocks in builds without spans): the backend's
// allocation starts at the header's two words.
CONCALLOC_ALWAYS_INLINE void* RawOf(Block* b) noexcept { return HeaderAt(b); }
CONCALLOC_ALWAYS_INLINE Block* BlockAtRaw(void* raw) noexcept {
  return reinterpret_cast<Block*>(static_cast<char*>(raw) + kLargeHeader);
}
// A class block's slot in its span (HEAP-SPAN) starts at its header.
CONCALLOC_ALWAYS_INLINE char* SlotOf(const Block* b) noexcept {
  return reinterpret_cast<char*>(const_cast<Block*>(b)) - kBlockHeader;
}
CONCALLOC_ALWAYS_INLINE Block* BlockAtSlot(char* slot) noexcept {
  return reinterpret_cast<Block*>(slot + kBlockHeader);
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

// HARD-LINK, HARD-DOUBLE: release builds, unless built for a tool that
// reports both itself (ASan, where LeakSanitizer must moreover read the
// links in clear, SAN-LEAK; memcheck's client requests, SAN-FREE), and
// unless built with CONCALLOC_HARDENED=OFF.
constexpr bool kLinkInTag = !kChecked;
constexpr bool kHardened =
    kLinkInTag && !san::kAsan && !san::kValgrind && CONCALLOC_HARDENED != 0;
constexpr std::uint64_t kCachedMark = std::uint64_t{1} << 63;
// HEAP-LINK: the tag of a class block free in its span, in release builds:
// bit 63 set, as a cached block's (HARD-DOUBLE).
constexpr std::uint64_t kSpanFreeTag = kCachedMark | kKindSpanFree;
// The key of release links: per process (the secret, with bit 63 set); 0
// when not hardened. A thread cache holds a copy (abi_v4::CacheFront::key),
// which the fast paths use.
CONCALLOC_ALWAYS_INLINE std::uint64_t LinkKey() noexcept {
  if constexpr (kHardened) return Secret() | kCachedMark;
  return 0;
}
// HARD-LINK: a link or top that does not decode (bit 63 set) ends the
// process, naming the block it was read from (thread_cache.cpp).
[[noreturn]] CONCALLOC_COLD void ForgedLink(const Block* h) noexcept;

// CHK-ENCODE: checked builds XOR links with the secret, except under ASan,
// where LeakSanitizer must read them to follow a cached list (SAN-LEAK);
// the header's check (HDR-2) covers them either way.
constexpr bool kEncodeLinks = kChecked && !san::kAsan;
CONCALLOC_ALWAYS_INLINE std::uint64_t EncodeLink(const Block* next) noexcept {
  std::uint64_t v = reinterpret_cast<std::uintptr_t>(next);
  if constexpr (kEncodeLinks) v ^= Secret();
  return v;
}
CONCALLOC_ALWAYS_INLINE Block* DecodeLink(std::uint64_t v) noexcept {
  if constexpr (kEncodeLinks) v ^= Secret();
  return reinterpret_cast<Block*>(static_cast<std::uintptr_t>(v));
}

// HDR-2: the check of a checked header, 40 bits: a keyed hash (the
// splitmix64 finaliser over the secret-mixed fields) of the tag's low 24 bits
// and the stored word.
CONCALLOC_ALWAYS_INLINE std::uint64_t HeaderCheck(std::uint64_t low, std::uint64_t word) noexcept {
  if constexpr (kMutant == kMutantTagUnchecked) low = 0;
  std::uint64_t x = (word ^ Secret()) * 0x9E3779B97F4A7C15ull + (low ^ (Secret() >> 40));
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 31;
  return x >> 24;
}

// Writes a whole header: the word (unless b is a class block with the short
// header, which has none), then the tag (with its check, in checked builds).
// Release builds store the tag as kind | aux << 8 (the state is not kept).
CONCALLOC_ALWAYS_INLINE void StoreHeader(Block* b, std::uint64_t kind, std::uint64_t state,
                                         std::uint64_t aux, std::uint64_t word) noexcept {
  if (!kShortHeader || kind >= kNumClasses) StoreWord(b, word);
  const std::uint64_t low = kind | aux << 8;
  if constexpr (kChecked) {
    const std::uint64_t low24 = low | state << 16;
    StoreTag(b, (low24 | HeaderCheck(low24, word) << 24) ^ Secret());
  } else {
    StoreTag(b, low);
  }
}

// HARD-SECRET, CHK-DOUBLE (checked builds): the header of a block given
// back to the backend, or carved from a span that went empty: a constant,
// so that memory the backend hands out again holds no keyed header; a Free
// that finds it reports a double free.
constexpr std::uint64_t kGivenBackTag = 0x4B4341424E564947ull;  // "GIVNBACK"
CONCALLOC_ALWAYS_INLINE void MarkGivenBack(Block* b) noexcept {
  StoreWord(b, 0);
  StoreTag(b, kGivenBackTag);
}

struct Tag {
  std::uint64_t kind, aux, state;
  std::uint64_t word;  // as stored
  bool ok;             // checked builds: the check matched; always true in release
};
// Reads and checks a header (HDR-2).
CONCALLOC_ALWAYS_INLINE Tag ReadTag(const Block* b) noexcept {
  std::uint64_t raw = LoadTag(b);
  Tag t{raw & 0xFF, (raw >> 8) & 0xFF, 0, 0, true};
  if constexpr (kChecked) {
    raw ^= Secret();
    t.word = LoadWord(b);
    t.kind = raw & 0xFF;
    t.aux = (raw >> 8) & 0xFF;
    t.state = (raw >> 16) & 0xFF;
    t.ok = (raw >> 24) == HeaderCheck(raw & 0xFFFFFF, t.word);
  }
  return t;
}

// A cached block of class cls now links to `next`. Checked builds rewrite
// the whole header, so that its check covers the new link; release builds
// store it keyed in the tag (HARD-LINK).
CONCALLOC_ALWAYS_INLINE void SetLink(Block* b, std::size_t cls, const Block* next) noexcept {
  if constexpr (kChecked)
    StoreHeader(b, cls, kStateCached, 0, EncodeLink(next));
  else
    StoreTag(b, reinterpret_cast<std::uintptr_t>(next) ^ LinkKey());
}
// DEPOT-SEGMENT: a chain of cached blocks (a spare, a depot batch) is made
// of segments, each a run linked as on a list (a spill is one). In builds
// that keep a cached block's link in its tag (all but checked builds), a
// segment's first block's mark word (SegmentWord: its first caller word
// where the header is one word; its header's word in builds for ASan and
// memcheck, where the caller's bytes of a cached block are the tool's)
// holds its last block and its count:
//   word == (last | count << 48) ^ SegmentPad(first),  1 <= count <= kMaxSegment,
// or SegmentPad(first) alone (count 0) when its end is not known (a drained
// list); so a chain is cut at a segment's end without walking the segment.
// Checked builds keep the link in the word, know no segment, and walk.
// HARD-SECRET: the pad is MarkPad(first), a keyed pseudo-random function of
// the block's address, not the link key: a segment's first block keeps its
// mark when its batch becomes a list and Alloc hands it out, and a mark
// XORed with the key would give the key to anyone who reads it (and guesses
// `last`, a neighbour). Builds that are not hardened: pad 0.
constexpr bool kSegments = !kChecked;
constexpr std::uint32_t kMaxSegment = 0x7FFF;
CONCALLOC_ALWAYS_INLINE std::uint64_t LoadSegmentWord(const Block* b) noexcept {
  if constexpr (kShortHeader) return *reinterpret_cast<const std::uint64_t*>(b);
  return LoadWord(b);
}
CONCALLOC_ALWAYS_INLINE void StoreSegmentWord(Block* b, std::uint64_t v) noexcept {
  if constexpr (kShortHeader)
    *reinterpret_cast<std::uint64_t*>(b) = v;
  else
    StoreWord(b, v);
}
CONCALLOC_ALWAYS_INLINE std::uint64_t SegmentPad(const Block* first) noexcept {
  if constexpr (kHardened && kMutant != kMutantMarkKeyed)
    return MarkPad(reinterpret_cast<std::uintptr_t>(first));
  return LinkKey();  // MUT-1 mark_keyed: the link key, as before HARD-SECRET
}
struct Segment {
  Block* last;          // nullptr: not known
  std::uint32_t count;  // 0: not known
};
CONCALLOC_ALWAYS_INLINE void MarkSegment(Block* first, const Block* last,
                                         std::uint32_t count) noexcept {
  if constexpr (kSegments) {
    const std::uint64_t known = count >= 1 && count <= kMaxSegment && last != nullptr;
    StoreSegmentWord(first, ((known ? reinterpret_cast<std::uintptr_t>(last) : 0) |
                      std::uint64_t{known ? count : 0} << 48) ^
                         SegmentPad(first));
  } else {
    (void)first, (void)last, (void)count;
  }
}
// The segment that starts at `first`, as MarkSegment left it ({nullptr, 0}:
// its end is not known, or a checked build); *ok false when the word does
// not decode (bit 63 set, a misaligned end, a count with no end). For the
// invariant walks, which report.
CONCALLOC_ALWAYS_INLINE Segment PeekSegment(const Block* first, bool* ok) noexcept {
  *ok = true;
  if constexpr (!kSegments) {
    (void)first;
    return {nullptr, 0};
  } else {
    const std::uint64_t w = LoadSegmentWord(first) ^ SegmentPad(first);
    const std::uint64_t last = w & ((std::uint64_t{1} << 48) - 1);
    const auto count = static_cast<std::uint32_t>(w >> 48);
    *ok = (w >> 63) == 0 && (last & 15) == 0 && (count == 0) == (last == 0);
    return {reinterpret_cast<Block*>(static_cast<std::uintptr_t>(last)), count};
  }
}
// The same for the slow paths: a word that does not decode was forged, and
// HARD-LINK stops the process (ForgedLink), as for a link.
CONCALLOC_ALWAYS_INLINE Segment ReadSegment(const Block* first) noexcept {
  bool ok;
  const Segment seg = PeekSegment(first, &ok);
  if (CONCALLOC_UNLIKELY(!ok)) ForgedLink(first);
  return seg;
}

// For the invariant walks, which report rather than stop: the link as
// stored, decoded, unchecked; and whether a cached block's header says
// "cached, class c" (checked: INV-TAG in full; hardened release: the tag has
// bit 63 set, the class is not kept).
CONCALLOC_ALWAYS_INLINE const Block* PeekLink(const Block* h) noexcept {
  if constexpr (kChecked) return DecodeLink(LoadWord(h));
  return reinterpret_cast<const Block*>(static_cast<std::uintptr_t>(LoadTag(h) ^ LinkKey()));
}
CONCALLOC_ALWAYS_INLINE bool CachedHeaderOk(const Block* h, std::size_t c) noexcept {
  if constexpr (kChecked) {
    const Tag tag = ReadTag(h);
    return tag.ok && tag.kind == c && tag.state == kStateCached;
  }
  (void)c;
  if constexpr (kHardened) return (LoadTag(h) & kCachedMark) != 0;
  return true;
}

// The successor of a cached block on its list or batch, unverified in
// checked builds (their readers verify first: CHK-LIST); release builds stop
// a forged link (HARD-LINK).
CONCALLOC_ALWAYS_INLINE Block* LinkOf(const Block* h) noexcept {
  if constexpr (kChecked) return DecodeLink(LoadWord(h));
  const std::uint64_t next = LoadTag(h) ^ LinkKey();
  if constexpr (kHardened && kMutant != kMutantNoLinkCheck)
    if (CONCALLOC_UNLIKELY(static_cast<std::int64_t>(next) < 0)) ForgedLink(h);
  return reinterpret_cast<Block*>(static_cast<std::uintptr_t>(next));
}

// Checked builds (CHK-LIST, CHK-WAF), defined in thread_cache.cpp. Every
// path that takes a cached block out of a list or a batch verifies it first:
// a block whose link is followed (a spill or a cut walks a list): its header
// must be "cached, class cls" with its check right (CHK-LIST); returns its
// successor.
CONCALLOC_NOINLINE Block* CheckedFollow(const Block* h, std::size_t cls) noexcept;
// a block going to the backend (flush, trim, a refused batch, a cut's
// rest): CheckedFollow, and its 0xDD fill intact (CHK-WAF); marks it
// returned and returns its successor.
CONCALLOC_NOINLINE Block* CheckedToBackend(Block* h, std::size_t cls) noexcept;

// The successor of h, a cached block of class cls, on its list or batch.
CONCALLOC_ALWAYS_INLINE Block* NextCached(const Block* h, std::size_t cls) noexcept {
  if constexpr (kChecked) return CheckedFollow(h, cls);
  (void)cls;
  return LinkOf(h);
}

// The caller's bytes in a block of class c.
CONCALLOC_ALWAYS_INLINE std::size_t UserBytes(std::size_t c) noexcept {
  return kClassSize[c] - kBlockHeader;
}

}  // namespace concalloc::detail

#endif

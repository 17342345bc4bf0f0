// concalloc's inline fast path (INLINE-1..INLINE-3 in spec/SPEC.md).
//
// InlineAlloc and InlineFree have the contract of Alloc and Free (ALLOC-*,
// FREE-*), but their hit path is compiled into the caller: a block popped
// from, or pushed onto, the calling thread's list with no call at all. Every
// other case calls Alloc or Free. concurrency::Alloc/Free (concrt.h), the
// class-level operators (CONCALLOC_CLASS_ALLOCATION) and concalloc::Allocator
// use them.
//
// The price is an ABI: the caller's code knows the layout below (the size
// classes, the front of the thread cache, the block header). It is versioned
// by the namespace abi_v4; a change of layout renames it, so that a program
// built against another layout fails to link instead of corrupting memory
// (INLINE-3). (abi_v1 kept a cached block's link in the header's second
// word, in clear; abi_v2 kept it keyed in the first, HARD-LINK, and each
// list's top keyed; abi_v3 kept the tops in clear and counted the pops in
// each list's room word instead of two counters of their own; abi_v4 makes
// a class block's header one word, its tag, right below the caller's
// bytes, as the blocks are carved from spans: HEAP-SPAN, HDR-1.)
// Define CONCALLOC_NO_INLINE_FAST_PATH (for the whole program) to make
// InlineAlloc/InlineFree plain calls and depend on no layout.
#ifndef CONCALLOC_INLINE_H
#define CONCALLOC_INLINE_H

#include <array>
#include <cstddef>
#include <cstdint>

#include <concalloc/export.h>

namespace concalloc {

CONCALLOC_API void* Alloc(std::size_t size);
CONCALLOC_API void Free(void* p) noexcept;

namespace abi_v4 {

// HDR-1: a class block's header is one word, its tag, right below the
// caller's bytes, which are 16-aligned; a block of class c is kClassSize[c]
// bytes of its span, the header included. (Checked and tool builds of the
// library keep a second word below the tag in every block; their inline
// callers always call the library, INLINE-2, which looks classes up with
// its own header size.)
constexpr std::size_t kHeaderSize = 8;
constexpr std::size_t kAlignment = 16;

// SIZE-1: the size classes (pinned by static_asserts in src/cache/size_classes.h
// and checked for every size by proptests/size_class_test.cpp).
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

// SIZE-1: the class of a request of `size` <= kMaxSmallSize bytes: the
// smallest that holds it and its header, by ceil((size + header) / 16).
constexpr std::size_t ClassOfSize(std::size_t size) noexcept {
  return kClassOfGranule[(size + kHeaderSize + 15) >> 4];
}

// A block, named by the caller's address; its tag is the word below (HDR-1):
// a live class block's is its class index; a
// cached one's is its link, the next block of its list XORed with the key
// (CacheFront::key, bit 63 set), so that it is never a class index
// (HARD-DOUBLE) and a link written without the key decodes with bit 63 set
// (HARD-LINK).
struct Block;
using Word = std::uint64_t __attribute__((may_alias));

// INLINE-3: the front of a thread cache, the part inline callers touch. For
// every class c: head[c] is its list, room[c] its room word:
//   room[c] & kRoomMask   how many more blocks list c may take (CACHE-3);
//   room[c] >> kRoomBits  the blocks the fast paths popped from list c since
//                         the slow path last folded them into the cache's
//                         count of hits (INV-STATS), modulo 2^44.
// A pop adds kPopStep (one place more, one hit more) and a push subtracts 1,
// so each fast path updates one word of the cache besides the head, and a
// hit is counted in the same store that frees its place. (abi_v2 kept two
// counters of their own, pops and pushes: two more stores per Alloc+Free
// pair, and each a read-modify-write that waits for the last one through
// memory; an inline pair of one block took about 15% longer.) The pushes
// are not counted: what came into the lists equals what is there plus what
// left them, so the library derives them (INV-STATS).
// key: what links are XORed with (HARD-LINK): per process, bit 63 set; 0
// in builds with CONCALLOC_HARDENED=OFF. head[c] is the list's top in
// clear (null when empty), as glibc keeps its tcache's entries: what an
// attacker reaches through a freed block is keyed; the cache is not a
// freed block. (abi_v2 kept the top keyed too; then a push stored
// p ^ key where the next pop loads it, and that pop waited for the XOR
// instead of getting p as it was.)
constexpr unsigned kRoomBits = 20;
constexpr std::uint64_t kRoomMask = (std::uint64_t{1} << kRoomBits) - 1;
constexpr std::uint64_t kPopStep = (std::uint64_t{1} << kRoomBits) + 1;
struct CacheFront {
  std::uint64_t room[kNumClasses];
  std::uint64_t head[kNumClasses];
  std::uint64_t key;
};

// INLINE-2: the calling thread's cache, published to inline callers; null
// before the thread has a cache, after it is torn down, and always in
// checked and tool (ASan, memcheck) builds of the library, so that inline
// callers then take the out-of-line path and its checks. Initial-exec TLS
// (FAST-2): no call to reach it, in the shared library too.
extern CONCALLOC_API __thread CacheFront* tl_front __attribute__((tls_model("initial-exec")));

}  // namespace abi_v4

#ifndef CONCALLOC_NO_INLINE_FAST_PATH
inline namespace inline_hits {

// INLINE-1, fast path contract: a block popped from the calling thread's list
// of the size's class, else a call to Alloc; no call, lock or atomic RMW.
// A top whose link does not decode (HARD-LINK) is left to Alloc, which
// stops it.
inline __attribute__((always_inline)) void* InlineAlloc(std::size_t size) {
  using namespace abi_v4;
  if (__builtin_expect(size <= kMaxSmallSize, 1)) {
    const std::size_t cls = ClassOfSize(size);
    CacheFront* tc = tl_front;
    if (__builtin_expect(tc != nullptr, 1)) {
      const std::uint64_t top = tc->head[cls];
      if (__builtin_expect(top != 0, 1)) {  // CACHE-2
        Word* h = reinterpret_cast<Word*>(top) - 1;
        const std::uint64_t next = h[0] ^ tc->key;
#ifndef CONCALLOC_MUTANT_INLINE_NO_LINK_CHECK  // MUT-1: the project's own tests only
        if (__builtin_expect(static_cast<std::int64_t>(next) < 0, 0)) return Alloc(size);
#endif
        tc->head[cls] = next;
        h[0] = cls;
#ifndef CONCALLOC_MUTANT_INLINE_UNCOUNTED  // MUT-1: the project's own tests only
        tc->room[cls] += kPopStep;
#else
        tc->room[cls] += 1;  // a place more, but no hit
#endif
        return reinterpret_cast<void*>(top);
      }
    }
  }
  return Alloc(size);
}

// INLINE-1, fast path contract: a class block pushed onto the calling
// thread's list when it has room, else a call to Free; no call, lock or
// atomic RMW.
inline __attribute__((always_inline)) void InlineFree(void* p) noexcept {
  using namespace abi_v4;
  CacheFront* tc = tl_front;
  if (__builtin_expect(tc != nullptr && p != nullptr, 1)) {
    Word* h = reinterpret_cast<Word*>(p) - 1;
    const std::uint64_t cls = h[0];
    if (__builtin_expect(cls < kNumClasses, 1)) {
      const std::uint64_t room = tc->room[cls];
      if (__builtin_expect((room & kRoomMask) != 0, 1)) {  // CACHE-3
        tc->room[cls] = room - 1;
        h[0] = tc->head[cls] ^ tc->key;
        tc->head[cls] = reinterpret_cast<std::uintptr_t>(p);
        return;
      }
    }
  }
  Free(p);
}

}  // namespace inline_hits
#else
// INLINE-3: the opt-out; its own inline namespace, so that mixing it with the
// inline path in one program is a link-level difference, not an ODR breach.
inline namespace call_only {
inline void* InlineAlloc(std::size_t size) { return Alloc(size); }
inline void InlineFree(void* p) noexcept { Free(p); }
}  // namespace call_only
#endif

}  // namespace concalloc

#endif  // CONCALLOC_INLINE_H

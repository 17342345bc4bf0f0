// HEAP-SPAN, INV-SPAN, HEAP-SHARD: a span's record and a class's heap
// shard, shared by the heap's paths (heap.cpp) and its rare ones
// (heap_admin.cpp: counts, the INV-SPAN checker, the fork child).
#ifndef CONCALLOC_SRC_HEAP_SPAN_H
#define CONCALLOC_SRC_HEAP_SPAN_H

#include <cstddef>
#include <cstdint>

#include "cache/block_header.h"
#include "cache/size_classes.h"
#include "heap/heap.h"
#include "modes/checked.h"
#include "platform/lock.h"

namespace concalloc::detail {

// A span's record, at its start (HEAP-SPAN). With size = kClassSize[cls]
// and slots = SpanSlots(cls), under its class's lock:
//   INV-SPAN:  used + nfree + (end - bump) / size == slots, where used
//              counts its blocks that are out (live, cached, in the depot)
//              and nfree the blocks on its free list; from free, the links
//              reach nullptr after exactly nfree blocks, each a slot of this
//              span below bump, marked free (HEAP-LINK);
//              listed (on its class's list) iff used > 0 and a slot is free
//              (nfree > 0 or bump < end); a span with used == 0 is its
//              class's kept span, with nfree == 0 and bump at the first
//              slot, or is back with the backend; a full span is on no list
//              (its blocks reach it);
//   HARD-SPAN: check == SpanCheck(span, cls).
// Checker: CheckInvSpan (VALIDATE-1).
struct alignas(kSpanRecordBytes) Span {
  Span* prev;
  Span* next;
  std::uint64_t check;
  char* bump;  // the first slot never carved since the span was last empty
  char* end;   // the end of the last slot
  Block* free;
  std::uint32_t used;
  std::uint32_t nfree;
  std::uint32_t cls;
  bool listed;
  bool mapped;         // from platform::MapAligned, else from the backend
  std::uint8_t shard;  // HEAP-SHARD: its class's heap shard, fixed for its life
  // HEAP-CACHE: the 4 KiB units from its start that may hold resident
  // pages: the most carved since it was mapped or its pages went back.
  std::uint8_t touched_4k;
};
static_assert(sizeof(Span) == kSpanRecordBytes, "HEAP-SPAN: a 64-byte record");

// HEAP-SHARD: each class's spans are in kHeapShards heaps, one per depot
// shard (DEPOT-SHARD): a thread carves from its own shard's spans, so two
// threads on different shards never carve blocks from one span, whose
// blocks would then share cache lines between their cores (the seed demo's
// two threads lost a fifth of their speed to that). A block goes back to
// its span's shard, whichever thread frees it.
// A class shard's spans, on a cache line of their own:
//   INV-SPAN: from list, the spans with a free slot and a block out, each
//   once, prev and next agreeing; kept: an empty span or nullptr.
// Counts since the start: spans made and given back (spans_made -
// spans_returned are held, the kept one included), blocks taken and given
// (blocks_taken - blocks_given is the sum of used over its spans).
struct alignas(64) ClassHeap {
  WordLock lock;
  Span* list;
  Span* kept;
  std::uint64_t spans_made, spans_returned, blocks_taken, blocks_given;
};
static_assert(sizeof(ClassHeap) == 64, "HEAP-LOCK: a class's heap is one cache line");
extern ClassHeap g_heap[kNumClasses][kHeapShards];

// HARD-SPAN: a span record's check, keyed by the process secret, so that
// memory that was not made a span here is not taken for one.
inline std::uint64_t SpanCheck(const Span* s, std::size_t cls) noexcept {
  std::uint64_t x = (reinterpret_cast<std::uintptr_t>(s) ^ Secret()) + cls * 0x9E3779B97F4A7C15ull;
  x ^= x >> 29;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 32;
  return x;
}

inline char* FirstSlot(Span* s) noexcept { return reinterpret_cast<char*>(s) + kFirstSlot; }

inline Span* SpanOf(const Block* b, std::size_t cls) noexcept {
  return reinterpret_cast<Span*>(reinterpret_cast<std::uintptr_t>(b) & ~(SpanBytes(cls) - 1));
}

inline bool Full(const Span* s) noexcept { return s->nfree == 0 && s->bump == s->end; }

// HEAP-LINK: the next block of a span's free list after b (heap.cpp).
Block* SpanFreeNext(Span* s, const Block* b, std::size_t cls) noexcept;

}  // namespace concalloc::detail

#endif

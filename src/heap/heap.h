// HEAP-SPAN, HEAP-RETURN, HARD-SPAN, INV-SPAN: the heap behind the caches.
//
// Class blocks are carved from spans: runs of memory of one class, taken
// from the backend in one piece (kSpanBytes, aligned to their size, so that
// a block's span is its address rounded down), holding a Span record and
// then slots of the class's size, one after the other. A block a cache
// gives up goes back to its span; a span whose blocks are all back goes
// back to the backend (one kept per class, HEAP-RETURN).
//
// Builds for ASan and memcheck keep one backend block per class block
// (kSpans false): their tools see each block as the program's own, and
// LeakSanitizer finds a leaked block only if it is an allocation of its own,
// not part of a span that other live blocks keep reachable (SAN-LEAK).
#ifndef CONCALLOC_SRC_HEAP_H
#define CONCALLOC_SRC_HEAP_H

#include <cstddef>
#include <cstdint>

#include "cache/block_header.h"
#include "platform/build_config.h"
#include "modes/sanitizer_hooks.h"
#include "cache/size_classes.h"

namespace concalloc::detail {

constexpr bool kSpans = !san::kAsan && !san::kValgrind;

// HEAP-SPAN, HEAP-MEMORY: a span's bytes: 64 KiB for classes to 2 KiB,
// 128 KiB to 4 KiB, 256 KiB above; so a span holds at least 31 blocks, and
// what its record and its tail leave unused is under 1/32 of it.
constexpr std::size_t SpanBytes(std::size_t cls) noexcept {
  return kClassSize[cls] <= 2048 ? std::size_t{65536}
                                 : kClassSize[cls] <= 4096 ? std::size_t{131072} : 262144;
}
// The span record at each span's start; the first slot follows it, where
// its caller's bytes are 16-aligned: at 72 with the one-word header, at 64
// with two (HDR-1).
constexpr std::size_t kSpanRecordBytes = 64;
constexpr std::size_t kFirstSlot = kSpanRecordBytes + (kLargeHeader - kBlockHeader);
constexpr std::uint32_t SpanSlots(std::size_t cls) noexcept {
  return static_cast<std::uint32_t>((SpanBytes(cls) - kFirstSlot) / kClassSize[cls]);
}
static_assert(SpanSlots(kNumClasses - 1) == 31 && SpanSlots(0) >= 4091,
              "HEAP-SPAN: 31 blocks of 8 KiB, 4091 or 4092 of 16 bytes");

// HEAP-SHARD: the heaps of each class, one per depot shard.
constexpr std::uint32_t kHeapShards = 4;  // kDepotShards

// The most blocks one HeapTake gives (CACHE-FILL's largest fill).
constexpr std::uint32_t kMaxHeapTake = 256;

// HEAP-SPAN: up to n (1..kMaxHeapTake) blocks of class cls, each written to
// out[], in the order they lie in their span; their headers are not written
// yet (the caller makes them live or cached), from the spans of heap shard
// `shard` (HEAP-SHARD: the calling thread's depot shard). Returns how many:
// fewer than n only when the backend failed (0: none).
std::uint32_t HeapTake(std::size_t cls, std::uint32_t n, Block** out,
                       std::uint32_t shard) noexcept;

// HEAP-RETURN: blocks[0..n) of class cls, verified by the caller in checked
// builds (CHK-WAF), go back to their spans; a span they leave empty goes
// back to the backend, unless it is the one its class keeps. HARD-SPAN: a
// block whose span record does not check stops the process.
void HeapGive(std::size_t cls, Block* const* blocks, std::uint32_t n) noexcept;

// HEAP-RETURN: every span kept empty goes back to the backend (Trim,
// DEPOT-QUIET), mapped ones to HEAP-CACHE while it has room; then the
// cache's spans give their pages back (kRelease: DEPOT-QUIET) or are
// unmapped (kUnmap: Trim). Returns the kept spans' bytes.
enum class CachedSpans { kRelease, kUnmap };
std::size_t HeapTrim(CachedSpans cached) noexcept;

// HEAP-SPAN: whether spans are mapped from the system (the default backend
// where no leak checker may look) rather than taken from the backend; then
// what the heap gives back never reaches the C heap (DEPOT-QUIET).
bool SpansMapped() noexcept;

struct HeapCounts {
  std::size_t spans;        // spans taken from the backend, not given back
  std::size_t span_bytes;   // their bytes
  std::size_t empty_spans;  // of those, kept empty (HEAP-RETURN)
  std::size_t blocks_out;   // blocks carved from them, not given back
  std::uint64_t spans_made, spans_returned;  // since the start
  std::uint64_t blocks_taken, blocks_given;  // since the start
  std::size_t cached_span_bytes;             // HEAP-CACHE: empty spans held for reuse
  std::uint64_t spans_reused;                // spans made from them, since the start
};
HeapCounts GetHeapCounts() noexcept;

// INV-SPAN: walks every span on a class's list and every kept one, then the
// span cache (INV-SPAN-CACHE); the first broken clause, or nullptr.
// (VALIDATE-1)
const char* CheckInvSpan(const void** address) noexcept;

// LIFE-4: in the fork child (lock.cpp). A class whose lock another thread
// held at the fork starts with no span on its lists (those stay the
// parent's, stranded); the others are kept.
void HeapAfterForkInChild() noexcept;

}  // namespace concalloc::detail

#endif

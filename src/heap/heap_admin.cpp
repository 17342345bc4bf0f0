// The heap's rare paths: its counts (STATS-1), the INV-SPAN checker
// (VALIDATE-1) and the fork child (LIFE-4).
#include "heap/heap.h"
#include "heap/span.h"
#include "heap/span_cache.h"
#include "platform/lock.h"

namespace concalloc::detail {

HeapCounts GetHeapCounts() noexcept {
  HeapCounts counts{};
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    for (ClassHeap& h : g_heap[c]) {
      bool contended;
      WordLocked lock(h.lock, true, &contended);
      const std::size_t spans = h.spans_made - h.spans_returned;
      counts.spans += spans;
      counts.span_bytes += spans * SpanBytes(c);
      counts.empty_spans += h.kept != nullptr;
      counts.blocks_out += h.blocks_taken - h.blocks_given;
      counts.spans_made += h.spans_made;
      counts.spans_returned += h.spans_returned;
      counts.blocks_taken += h.blocks_taken;
      counts.blocks_given += h.blocks_given;
    }
  }
  const SpanCacheCounts cached = GetSpanCacheCounts();  // HEAP-CACHE
  counts.cached_span_bytes = cached.bytes;
  counts.spans_reused = cached.reused;
  return counts;
}

const char* CheckInvSpan(const void** address) noexcept {
  if constexpr (!kSpans) return nullptr;
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    for (std::uint32_t sh = 0; sh < kHeapShards; ++sh) {
      ClassHeap& h = g_heap[c][sh];
      bool contended;
      WordLocked lock(h.lock, true, &contended);
      const std::size_t size = kClassSize[c];
      const Span* prev = nullptr;
      std::size_t listed = 0;
      for (Span* s = h.list;; s = s->next) {
        const bool kept = s == nullptr;
        if (kept) {
          s = h.kept;
          if (s == nullptr) break;
        }
        *address = s;
        if (s->check != SpanCheck(s, c)) return "HARD-SPAN";
        if (s->shard != sh) return "INV-SPAN";  // HEAP-SHARD
        if (!kept && (s->prev != prev || !s->listed || s->used == 0 || Full(s))) return "INV-SPAN";
        if (kept && (s->used != 0 || s->nfree != 0 || s->bump != FirstSlot(s) || s->listed))
          return "INV-SPAN";
        if (s->bump < FirstSlot(s) || s->bump > s->end || (s->bump - FirstSlot(s)) % size != 0)
          return "INV-SPAN";
        const std::size_t untouched = static_cast<std::size_t>(s->end - s->bump) / size;
        if (std::size_t{s->used} + s->nfree + untouched != SpanSlots(c)) return "INV-SPAN";
        std::uint32_t k = 0;
        for (const Block* b = s->free; b != nullptr; ++k) {
          if (k >= s->nfree) return "INV-SPAN";
          const char* raw = SlotOf(b);
          if (SpanOf(b, c) != s || raw < FirstSlot(s) || raw >= s->bump ||
              (raw - FirstSlot(s)) % size != 0)
            return "INV-SPAN";
          b = SpanFreeNext(s, b, c);
        }
        if (k != s->nfree) return "INV-SPAN";
        if (kept) break;
        prev = s;
        listed += 1;
        if (listed > h.spans_made - h.spans_returned) return "INV-SPAN";  // a cycle
      }
    }
  }
  return CheckInvSpanCache(address);  // INV-SPAN-CACHE
}

void HeapAfterForkInChild() noexcept {
  for (auto& shards : g_heap) {
    for (ClassHeap& h : shards) {
      if (IsHeld(h.lock)) {
        h.list = nullptr;
        h.kept = nullptr;
        h.spans_returned = h.spans_made;
        h.blocks_given = h.blocks_taken;
      }
      RenewInChild(h.lock);
    }
  }
  SpanCacheAfterForkInChild();  // HEAP-CACHE
}

}  // namespace concalloc::detail

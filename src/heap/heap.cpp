#include "heap/heap.h"
#include "heap/span.h"

#include <atomic>
#include <cstring>

#include "heap/backend.h"
#include "modes/checked.h"
#include "platform/lock.h"
#include "platform/platform.h"
#include "heap/span_cache.h"
#include "modes/trace.h"

namespace concalloc::detail {

CONCALLOC_LARGE_BSS ClassHeap g_heap[kNumClasses][kHeapShards];  // 24 KiB, MALLOC-LEAN

namespace {

// HEAP-LINK: a block on a span's free list. Its header says so (release
// builds: the tag kSpanFreeTag, bit 63 set, so a second Free of it stops at
// HARD-DOUBLE; checked builds: state freed, as CheckedToBackend left it),
// and the next block of the list is kept keyed (release: XOR the link key,
// in its first caller word, the header being one word; checked: its
// header's word, CHK-ENCODE, covered by the header's check).

void MarkSpanFree(Block* b, std::size_t cls, const Block* next) noexcept {
  if constexpr (kChecked) {
    StoreHeader(b, cls, kStateFreed, 0, EncodeLink(next));
  } else {
    *reinterpret_cast<std::uint64_t*>(b) = reinterpret_cast<std::uintptr_t>(next) ^ LinkKey();
    StoreTag(b, kSpanFreeTag);
  }
}

// CHK-WAF (checked builds): every slot of a span not out in a cache or with
// the caller holds the 0xDD fill in its caller's bytes: a new span is
// filled whole, and a block comes back to its span filled (verified on its
// way, CheckedToBackend, or filled by a Free that gives it straight back).
// A slot leaving the span (its free list, or carved) is verified.
void VerifySpanFill(Block* b, std::size_t cls) noexcept {
  if constexpr (kChecked && kMutant != kMutantSpanFillUnchecked) {
    const unsigned char* bad = FirstByteNot(UserOf(b), UserBytes(cls), kFillCached);
    if (bad != nullptr)
      Die("CHK-WAF", bad, "write after free: the 0xDD fill of a block free in its span was changed");
  } else {
    (void)b, (void)cls;
  }
}

// HARD-SECRET, CHK-WAF: block b leaves its span's free list for a cache.
// Release builds clear its first word, where its keyed link was; checked
// builds verify its fill (a write after free, wherever the block waited).
void LeaveSpanFree(Block* b, std::size_t cls) noexcept {
  if constexpr (kChecked)
    VerifySpanFill(b, cls);
  else if constexpr (kMutant != kMutantSpanLinkKept)
    *reinterpret_cast<std::uint64_t*>(b) = 0;
}

}  // namespace

// The next block of a span's free list after b; HEAP-LINK: a header that
// does not say "free in a span" or a link out of the span stops the process.
Block* SpanFreeNext(Span* s, const Block* b, std::size_t cls) noexcept {
  const Block* next;
  if constexpr (kChecked) {
    const Tag tag = ReadTag(b);
    if (!tag.ok || tag.kind != cls || tag.state != kStateFreed)
      Die("HEAP-LINK", UserOf(b), "a block free in its span was written to");
    next = DecodeLink(tag.word);
  } else {
    if (LoadTag(b) != kSpanFreeTag && kMutant != kMutantSpanLinkUnchecked)
      Die("HEAP-LINK", UserOf(b), "a block free in its span was written to");
    next = reinterpret_cast<const Block*>(
        static_cast<std::uintptr_t>(*reinterpret_cast<const std::uint64_t*>(b) ^ LinkKey()));
  }
  if (next != nullptr &&
      (SpanOf(next, cls) != s || reinterpret_cast<const char*>(next) >= s->bump + kBlockHeader))
    Die("HEAP-LINK", UserOf(b), "a block free in its span links out of its span");
  return const_cast<Block*>(next);
}

namespace {

// HARD-SECRET, CHK-WAF: span s of class cls is empty (every block it carved
// is on its free list) and is about to be reset. Checked builds verify each
// free block's fill (CHK-WAF: the span's return is the last look at them)
// and leave every carved slot's header a constant, kGivenBackTag, with no
// secret in it; release builds clear each carved slot's first word (its
// keyed link). So an empty span, kept, cached, reused for another class or
// given back to the backend, holds no word derived from a secret.
void ScrubEmptySpan(Span* s, std::size_t cls) noexcept {
  if constexpr (kChecked) {
    std::uint32_t k = 0;
    for (Block* b = s->free; b != nullptr && k < s->nfree; ++k) {
      Block* next = SpanFreeNext(s, b, cls);
      LeaveSpanFree(b, cls);
      b = next;
    }
  }
  if constexpr (kMutant == kMutantSpanLinkKept && !kChecked) return;
  const std::size_t size = kClassSize[cls];
  for (char* slot = FirstSlot(s); slot < s->bump; slot += size) {
    Block* b = BlockAtSlot(slot);
    if constexpr (kChecked)
      MarkGivenBack(b);
    else
      *reinterpret_cast<std::uint64_t*>(b) = 0;
  }
}

void Unlist(ClassHeap& h, Span* s) noexcept {
  (s->prev != nullptr ? s->prev->next : h.list) = s->next;
  if (s->next != nullptr) s->next->prev = s->prev;
  s->prev = s->next = nullptr;
  s->listed = false;
}

void List(ClassHeap& h, Span* s) noexcept {
  s->prev = nullptr;
  s->next = h.list;
  if (h.list != nullptr) h.list->prev = s;
  h.list = s;
  s->listed = true;
}

// An empty span's slots, all free again, carved from the first.
void Reset(Span* s) noexcept {
  s->bump = FirstSlot(s);
  s->free = nullptr;
  s->nfree = 0;
}

// HEAP-SPAN: with the default backend (the C heap), spans are mapped from the
// system: glibc's memalign would take twice a span from its heap for each
// and keep the misaligned rest as free chunks whose headers touch a page or
// two each (on a heap of 2 M blocks: 51 MiB of peak RSS for 6,400 spans),
// and an unmapped span gives its pages back at once. With another backend
// installed (tests: failing, counting), its alloc_aligned; and from the C
// heap too where a leak checker may look (checked builds, a sanitizer
// runtime, Valgrind), which sees the C heap's blocks and not mappings: a
// span that only dropped blocks reach is then a leak it reports (LIFE-1).
Span* NewSpan(std::size_t cls, std::uint32_t shard) noexcept {
  const std::size_t bytes = SpanBytes(cls);
  const Backend& backend = CurrentBackend();
  const bool mapped = SpansMapped();
  std::size_t touched = 0;
  auto* s = mapped ? static_cast<Span*>(TakeCachedSpan(bytes, &touched)) : nullptr;  // HEAP-CACHE
  if (s == nullptr)
    s = static_cast<Span*>(mapped ? platform::MapAligned(bytes)
                                  : backend.alloc_aligned(bytes, bytes));
  if (s == nullptr) return nullptr;
  s->touched_4k = static_cast<std::uint8_t>(touched >> 12);
  // CHK-WAF: the slots' caller bytes hold the fill (and what a scrubbed
  // slot's header would hold) from the start.
  if constexpr (kChecked) std::memset(s, kFillCached, bytes);
  s->mapped = mapped;
  s->prev = s->next = nullptr;
  s->check = SpanCheck(s, cls);
  Reset(s);
  s->end = FirstSlot(s) + std::size_t{SpanSlots(cls)} * kClassSize[cls];
  s->used = 0;
  s->cls = static_cast<std::uint32_t>(cls);
  s->listed = false;
  s->shard = static_cast<std::uint8_t>(shard);
  return s;
}

// Spans given back once the lock is released (DEPOT-NO-DEADLOCK: the
// backend is never called under a lock of the library's): a mapped one to
// the cache while it has room (HEAP-CACHE), else to the system.
void GiveSpans(Span* s) noexcept {
  while (s != nullptr) {
    Span* next = s->next;
    const std::size_t bytes = SpanBytes(s->cls);
    s->check = 0;
    if (!s->mapped)
      CurrentBackend().free(s);
    else if (!CacheSpan(s, bytes, std::size_t{s->touched_4k} << 12))
      platform::UnmapAligned(s, bytes);
    s = next;
  }
}

bool g_really_lock = kMutant != kMutantHeapNoLock;

}  // namespace

std::uint32_t HeapTake(std::size_t cls, std::uint32_t n, Block** out,
                       std::uint32_t shard) noexcept {
  if constexpr (!kSpans) {
    std::uint32_t k = 0;
    for (; k < n; ++k) {
      void* raw = CurrentBackend().alloc(kClassSize[cls]);
      if (raw == nullptr) break;
      out[k] = BlockAtRaw(raw);
    }
    return k;
  }
  shard = kMutant == kMutantHeapUnsharded ? 0 : shard % kHeapShards;
  ClassHeap& h = g_heap[cls][shard];
  const std::size_t size = kClassSize[cls];
  std::uint32_t got = 0;
  Span* fresh = nullptr;
  for (;;) {
    {
      bool contended;
      WordLocked lock(h.lock, g_really_lock, &contended);
      if (fresh != nullptr) {  // carved below, under this same hold
        h.spans_made += 1;
        List(h, fresh);
      }
      while (got < n) {
        Span* s = h.list;
        if (s == nullptr && h.kept != nullptr) {
          s = h.kept;
          h.kept = nullptr;
          List(h, s);
        }
        if (s == nullptr) break;
        std::uint32_t k = 0;
        for (; got + k < n && s->free != nullptr; ++k) {
          Block* b = s->free;
          s->free = SpanFreeNext(s, b, cls);
          s->nfree -= 1;
          LeaveSpanFree(b, cls);  // HARD-SECRET, CHK-WAF
          out[got + k] = b;
        }
        for (; got + k < n && s->bump != s->end; ++k) {  // carved in address order
          VerifySpanFill(BlockAtSlot(s->bump), cls);        // CHK-WAF
          out[got + k] = BlockAtSlot(s->bump);
          s->bump += size;
        }
        s->used += kMutant == kMutantSpanMiscount && k > 1 ? k - 1 : k;  // MUT-1 span_miscount
        h.blocks_taken += k;
        got += k;
        if (Full(s)) Unlist(h, s);
      }
    }
    if (got == n) return got;
    // No span of the class has a free slot: a new one from the backend,
    // with the lock released (DEPOT-NO-DEADLOCK).
    fresh = NewSpan(cls, shard);
    if (fresh == nullptr) return got;
  }
}

void HeapGive(std::size_t cls, Block* const* blocks, std::uint32_t n) noexcept {
  if constexpr (!kSpans) {
    for (std::uint32_t k = 0; k < n; ++k) {
      if constexpr (kChecked) MarkGivenBack(blocks[k]);  // HARD-SECRET
      CurrentBackend().free(RawOf(blocks[k]));
    }
    return;
  }
  Span* to_backend = nullptr;
  // In runs of blocks whose spans are in one shard, each under its lock
  // (a span's shard is fixed before the span is first listed; a run's
  // first record is checked before its shard is read, HARD-SPAN).
  for (std::uint32_t k = 0; k < n;) {
    // HARD-SPAN before the record's shard is trusted (again under the lock,
    // below, with the count).
    const Span* first = SpanOf(blocks[k], cls);
    if (CONCALLOC_UNLIKELY(first->check != SpanCheck(first, cls)) && kMutant != kMutantSpanCheckOff)
      Die("HARD-SPAN", UserOf(blocks[k]), "freed block is not in a span of its class");
    const std::uint32_t shard = first->shard % kHeapShards;
    ClassHeap& h = g_heap[cls][shard];
    bool contended;
    WordLocked lock(h.lock, g_really_lock, &contended);
    for (; k < n; ++k) {
      Block* b = blocks[k];
      Span* s = SpanOf(b, cls);
      if (s->shard % kHeapShards != shard) break;  // the next run
      // HARD-SPAN: the record must be this class's span's.
      // (MUT-1 span_miscount leaves out the count's half, which would stop
      // its early-emptied span at the next block given back, so that the
      // trace shows the span reported empty with blocks out: INV-SPAN.)
      if (CONCALLOC_UNLIKELY(s->check != SpanCheck(s, cls) ||
                             (s->used == 0 && kMutant != kMutantSpanMiscount)) &&
          kMutant != kMutantSpanCheckOff)
        Die("HARD-SPAN", UserOf(b), "freed block is not in a span of its class");
      const bool was_full = Full(s);
      MarkSpanFree(b, cls, s->free);
      s->free = b;
      s->nfree += 1;
      s->used -= 1;
      h.blocks_given += 1;
      if (s->used == 0) {  // HEAP-RETURN
        // TRACE-SPAN: every block of the span is back, whether it is kept or
        // goes back; the events that gave its blocks back took their
        // numbers before this one.
        CONCALLOC_TRACE_EVENT(trace::kSpan, trace::kNoCache, cls, 0, SpanSlots(cls), s);
        if (!was_full) Unlist(h, s);
        ScrubEmptySpan(s, cls);  // HARD-SECRET, CHK-WAF
        const std::size_t carved_4k =
            (static_cast<std::size_t>(s->bump - reinterpret_cast<char*>(s)) + 4095) >> 12;
        if (carved_4k > s->touched_4k) s->touched_4k = static_cast<std::uint8_t>(carved_4k);
        Reset(s);
        if (h.kept == nullptr || kMutant == kMutantSpanHoard) {
          h.kept = s;
        } else {
          h.spans_returned += 1;
          s->next = to_backend;
          to_backend = s;
        }
      } else if (was_full) {
        List(h, s);
      }
    }
  }
  GiveSpans(to_backend);
}

bool SpansMapped() noexcept {
  return kSpans && &CurrentBackend() == &DefaultBackend() && !san::LeakCheckerMayLook();
}

std::size_t HeapTrim(CachedSpans cached) noexcept {
  if constexpr (!kSpans) return 0;
  std::size_t bytes = 0;
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    for (ClassHeap& h : g_heap[c]) {
      Span* s;
      {
        bool contended;
        WordLocked lock(h.lock, g_really_lock, &contended);
        s = h.kept;
        h.kept = nullptr;
        if (s != nullptr) h.spans_returned += 1;
      }
      if (s != nullptr) {
        s->next = nullptr;
        bytes += SpanBytes(c);
        GiveSpans(s);
      }
    }
  }
  // HEAP-CACHE: Trim() unmaps the cached spans too; DEPOT-QUIET gives their
  // pages back.
  if (cached == CachedSpans::kUnmap)
    UnmapCachedSpans();
  else
    ReleaseCachedSpanPages();
  return bytes;
}

}  // namespace concalloc::detail

// Checked mode (CHK-*): the per-process secret, the one-line diagnostics
// (which never allocate), and the checked builds' checks of the blocks on
// the lists (CHK-LIST, CHK-WAF, CHK-DOUBLE, CHK-FOREIGN).
#include "modes/checked.h"

#include <cstring>

#include "cache/cache_internal.h"
#include "modes/trace.h"

#include "modes/sanitizer_hooks.h"

namespace concalloc::detail {

std::atomic<std::uint64_t> g_secret{0};
std::uint64_t g_mark_key[2];

namespace {
std::atomic<bool> g_secret_drawing{false};

CONCALLOC_ALWAYS_INLINE std::uint64_t Rotl(std::uint64_t x, int b) noexcept {
  return (x << b) | (x >> (64 - b));
}
CONCALLOC_ALWAYS_INLINE void SipRound(std::uint64_t& v0, std::uint64_t& v1, std::uint64_t& v2,
                                      std::uint64_t& v3) noexcept {
  v0 += v1, v1 = Rotl(v1, 13), v1 ^= v0, v0 = Rotl(v0, 32);
  v2 += v3, v3 = Rotl(v3, 16), v3 ^= v2;
  v0 += v3, v3 = Rotl(v3, 21), v3 ^= v0;
  v2 += v1, v1 = Rotl(v1, 17), v1 ^= v2, v2 = Rotl(v2, 32);
}
}  // namespace

std::uint64_t InitSecret() noexcept {
  // HARD-SECRET: one thread draws; the others wait for it (a few system
  // calls, once per process).
  if (!g_secret_drawing.exchange(true, std::memory_order_acq_rel)) {
    std::uint64_t r[3];
    platform::KernelRandom(r, sizeof r);
    g_mark_key[0] = r[1];
    g_mark_key[1] = r[2];
    const std::uint64_t s = r[0] != 0 ? r[0] : 0x5DEECE66Dull;
    g_secret.store(s, std::memory_order_release);
    return s;
  }
  std::uint64_t s;
  while ((s = g_secret.load(std::memory_order_acquire)) == 0) platform::Yield();
  return s;
}

std::uint64_t MarkPad(std::uint64_t x) noexcept {
  if (g_secret.load(std::memory_order_acquire) == 0) InitSecret();
  const std::uint64_t k0 = g_mark_key[0], k1 = g_mark_key[1];
  std::uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
  std::uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
  v3 ^= x;
  SipRound(v0, v1, v2, v3);
  v0 ^= x;
  const std::uint64_t b = std::uint64_t{8} << 56;  // the length of x, in its last byte
  v3 ^= b;
  SipRound(v0, v1, v2, v3);
  v0 ^= b;
  v2 ^= 0xFF;
  SipRound(v0, v1, v2, v3);
  SipRound(v0, v1, v2, v3);
  SipRound(v0, v1, v2, v3);
  return v0 ^ v1 ^ v2 ^ v3;
}

// Reads cached blocks, which ASan sees as poisoned (SAN-CACHED): not
// instrumented.
__attribute__((no_sanitize_address, noinline)) const unsigned char* FirstByteNot(
    const void* p, std::size_t n, unsigned char fill) noexcept {
  const unsigned char* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i)
    if (b[i] != fill) return b + i;
  return nullptr;
}

namespace {
// Appends text to a fixed buffer; never allocates.
struct Line {
  char buf[256];
  std::size_t len = 0;
  void Put(const char* s) {
    while (*s != '\0' && len < sizeof buf - 1) buf[len++] = *s++;
  }
  void PutHex(std::uintptr_t v) {
    char digits[2 + 16];
    std::size_t n = 0;
    do {
      digits[n++] = "0123456789abcdef"[v & 15];
      v >>= 4;
    } while (v != 0);
    Put("0x");
    while (n > 0 && len < sizeof buf - 1) buf[len++] = digits[--n];
  }
};

Line FormatDiagnostic(const char* clause, const void* address, const char* what) noexcept {
  Line line;
  line.Put("concalloc: ");
  line.Put(clause);
  line.Put(": ");
  line.Put(what);
  line.Put(" at ");
  line.PutHex(reinterpret_cast<std::uintptr_t>(address));
  line.buf[line.len++] = '\n';
  return line;
}
}  // namespace

void Report(const char* clause, const void* address, const char* what) noexcept {
  const Line line = FormatDiagnostic(clause, address, what);
  platform::WriteStderr(line.buf, line.len);
}

void Die(const char* clause, const void* address, const char* what) noexcept {
  Line line = FormatDiagnostic(clause, address, what);
  platform::WriteStderr(line.buf, line.len);
  line.buf[line.len] = '\0';
  san::PrintStack(line.buf);
  CONCALLOC_TRACE_ONLY(trace::Settle();)  // TRACE-ORDER: the events in flight
  platform::Abort();
}

// ---- Checked builds (CHK-*) ----

namespace {
// CHK-LIST: h's header says "cached, class cls", with its check right; and
// its link is aligned.
void VerifyCachedHeader(const Block* h, std::size_t cls) noexcept {
  const Tag tag = ReadTag(h);
  if (!tag.ok || tag.state != kStateCached || tag.kind != cls)
    Die("CHK-LIST", UserOf(h), "a cached block's header was overwritten (corrupt cache list)");
  if ((reinterpret_cast<std::uintptr_t>(DecodeLink(tag.word)) & (kAlignment - 1)) != 0)
    Die("CHK-LIST", UserOf(h), "a cached block's list link was overwritten (corrupt cache list)");
}

// CHK-WAF: h's caller bytes still hold the 0xDD fill.
void VerifyCachedFill(const Block* h, std::size_t cls) noexcept {
  if constexpr (kMutant != kMutantWriteAfterFree) {
    const unsigned char* bad = FirstByteNot(UserOf(h), UserBytes(cls), kFillCached);
    if (bad != nullptr)
      Die("CHK-WAF", bad, "write after free: the 0xDD fill of a cached block was changed");
  }
}
}  // namespace

void CheckedVerifyCached(const Block* h, std::size_t cls) noexcept {
  VerifyCachedHeader(h, cls);
  VerifyCachedFill(h, cls);
}

Block* CheckedFollow(const Block* h, std::size_t cls) noexcept {
  VerifyCachedHeader(h, cls);
  return DecodeLink(LoadWord(h));
}

Block* CheckedToBackend(Block* h, std::size_t cls) noexcept {
  san::PeekBegin(UserOf(h), UserBytes(cls));  // still cached (SAN-CACHED)
  CheckedVerifyCached(h, cls);
  san::PeekEnd(UserOf(h), UserBytes(cls));
  const std::uint64_t word = LoadWord(h);
  StoreHeader(h, cls, kStateFreed, 0, word);
  return DecodeLink(word);
}

Block* CheckedTakeFromList(Block* h, std::size_t cls, std::size_t requested) noexcept {
  CheckedVerifyCached(h, cls);
  Block* next = DecodeLink(LoadWord(h));
  StoreHeader(h, cls, kStateLive, 0, requested);
  FillUser(h, UserBytes(cls), kFillLive);
  return next;
}

std::uint64_t CheckedKindOfFreed(const void* p) noexcept {
  if (san::ToolMode()) return kKindAligned;  // SAN-DIRECT: the tool checks Free
  if ((reinterpret_cast<std::uintptr_t>(p) & (kAlignment - 1)) != 0)
    Die("CHK-FOREIGN", p, "free of a pointer that Alloc never returned (misaligned)");
  // The header may be gone with its memory: a span or a large block given
  // back (Trim, a span's return) and unmapped, or a pointer into nothing.
  std::uint64_t header[2];
  if (!platform::ReadSafely(HeaderAt(BlockOf(p)), header, sizeof header))
    Die("CHK-FOREIGN", p,
        "free of a pointer with no readable header (never returned by Alloc, or freed and its "
        "memory given back)");
  if (header[1] == kGivenBackTag && header[0] == 0)  // MarkGivenBack's word and tag
    Die("CHK-DOUBLE", p, "double free: the block was given back");
  const Tag tag = ReadTag(BlockOf(p));
  if (!tag.ok)
    Die("CHK-FOREIGN", p,
        "free of a pointer that Alloc never returned (no concalloc header; or the header was "
        "overwritten)");
  if (tag.state == kStateCached && kMutant != kMutantDoubleFree)
    Die("CHK-DOUBLE", p, "double free: the block is already in a thread cache");
  if (tag.state == kStateFreed) Die("CHK-DOUBLE", p, "double free: the block was given back");
  if ((tag.state != kStateLive && tag.state != kStateCached) ||
      (tag.kind >= kNumClasses && tag.kind != kKindLarge && tag.kind != kKindAligned))
    Die("CHK-FOREIGN", p, "free of a pointer whose header is not a live block");
  return tag.kind;
}

void CheckedPutOnList(Block* h, std::size_t cls, const Block* next) noexcept {
  FillUser(h, UserBytes(cls), kFillCached);
  StoreHeader(h, cls, kStateCached, 0, EncodeLink(next));
}

}  // namespace concalloc::detail

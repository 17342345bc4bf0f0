// Checked mode (CHK-*): diagnostics, fill patterns, the per-process secret.
// The diagnostic path never allocates (CHK-DIAG).
#ifndef CONCALLOC_SRC_CHECKED_H
#define CONCALLOC_SRC_CHECKED_H

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "platform/build_config.h"
#include "platform/platform.h"

namespace concalloc::detail {

// CHK-DIAG: writes "concalloc: <clause>: <what> at 0x<address>" as one line
// to stderr, then abort().
[[noreturn]] CONCALLOC_COLD void Die(const char* clause, const void* address,
                                     const char* what) noexcept;

// CHK-DIAG's line alone, without the stack and the abort (a tool's own
// report follows it).
CONCALLOC_COLD void Report(const char* clause, const void* address, const char* what) noexcept;

// Tier 2 (CONCALLOC_ASSERTS): an internal assert names its clause too.
#define CONCALLOC_ASSERT(cond, clause, address, what)                          \
  do {                                                                         \
    if (::concalloc::detail::kAsserts && CONCALLOC_UNLIKELY(!(cond)))          \
      ::concalloc::detail::Die(clause, address, "internal assert: " what);     \
  } while (0)

// HARD-SECRET, CHK-ENCODE: the per-process secrets, from the kernel
// (platform::KernelRandom), drawn once, by the first thread that needs them:
// Secret(), which release links (HARD-LINK) and checked headers (HDR-2,
// CHK-ENCODE) are XORed with, and the key of MarkPad (DEPOT-SEGMENT's marks).
// g_secret is published last, with release order; 0 means not drawn yet.
extern std::atomic<std::uint64_t> g_secret;
extern std::uint64_t g_mark_key[2];
CONCALLOC_COLD std::uint64_t InitSecret() noexcept;
CONCALLOC_ALWAYS_INLINE std::uint64_t Secret() noexcept {
  std::uint64_t s = g_secret.load(std::memory_order_relaxed);
  return CONCALLOC_LIKELY(s != 0) ? s : InitSecret();
}

// HARD-SECRET: a keyed pseudo-random function of a 64-bit value
// (SipHash-1-3 under g_mark_key): knowing any number of pairs (x, pad) tells
// nothing of the key, where x ^ Secret() would give the secret away.
std::uint64_t MarkPad(std::uint64_t x) noexcept;

// CHK-FILL: bytes handed out, and bytes that sit in a cache.
constexpr unsigned char kFillLive = 0xCD;
constexpr unsigned char kFillCached = 0xDD;

// The first byte of [p, p + n) that is not `fill`, or nullptr.
const unsigned char* FirstByteNot(const void* p, std::size_t n, unsigned char fill) noexcept;

}  // namespace concalloc::detail

#endif

#include "checked.h"
#include "trace.h"

#include "sanitizer_hooks.h"

namespace concalloc::detail {

std::atomic<std::uint64_t> g_secret{0};

std::uint64_t InitSecret() noexcept {
  // Deterministic for the process, so threads that race here store the same
  // value.
  std::uint64_t s = platform::ProcessRandom();
  g_secret.store(s, std::memory_order_relaxed);
  return s;
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

}  // namespace concalloc::detail

// DOC-FIGURES: every figure that the documents quote and that follows from
// the code's constants, computed from them and printed one per line as
// `name value`, in the words the documents use. scripts/check-figures
// compares each `<!--fig:name-->` marker in README.md, docs/ and spec/ with
// this output (test docs.DOC-FIGURES.figures_match_the_code), so that a
// changed constant fails the suite until its documents follow.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "cache/size_classes.h"
#include "cache/thread_cache.h"
#include "depot/depot.h"
#include "heap/heap.h"
#include "heap/span_cache.h"
#include "platform/config.h"

namespace {

using namespace concalloc::detail;

// 1245536 -> "1,245,536"
std::string Grouped(std::size_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t k = 0; k < digits.size(); ++k) {
    if (k > 0 && (digits.size() - k) % 3 == 0) out += ',';
    out += digits[k];
  }
  return out;
}

// Bytes in a binary unit with two decimals ("1.19 MiB"), or whole ("8 MiB").
std::string Binary(std::size_t bytes, std::size_t unit, const char* name) {
  char text[64];
  if (bytes % unit == 0)
    std::snprintf(text, sizeof text, "%zu %s", bytes / unit, name);
  else
    std::snprintf(text, sizeof text, "%.2f %s", static_cast<double>(bytes) / unit, name);
  return text;
}
std::string MiB(std::size_t bytes) { return Binary(bytes, std::size_t{1} << 20, "MiB"); }

void Print(const char* name, const std::string& value) { std::printf("%s %s\n", name, value.c_str()); }

}  // namespace

int main() {
  const std::uint32_t depth = kDefaultCacheDepth;
  const std::size_t lists = MaxCacheBytes(depth, true);
  const std::size_t spares = MaxSpareBytes(depth);
  // INV-CACHE-BOUND
  Print("cache.depth", std::to_string(depth));
  Print("cache.lists_bytes", Grouped(lists));
  Print("cache.lists_mib", MiB(lists));
  Print("cache.lists_depot_off_mib", MiB(MaxCacheBytes(depth, false)));
  Print("cache.spares_bytes", Grouped(spares));
  Print("cache.spares_mib", MiB(spares));
  Print("cache.thread_bound_mib", MiB(lists + spares));
  std::size_t at_rest = 0;  // each spare below its transfer unit
  for (std::size_t c = 0; c < kNumClasses; ++c)
    at_rest += (XferMax(c, ListLimit(c, depth, true)) - 1) * kClassSize[c];
  Print("cache.spares_at_rest_mib", MiB(at_rest));
  Print("cache.record_bytes", Grouped(sizeof(ThreadCache)));
  {
    char kib[32];
    std::snprintf(kib, sizeof kib, "%.1f KiB", static_cast<double>(sizeof(ThreadCache)) / 1024);
    Print("cache.record_kib", kib);
  }
  Print("size.class_sizes_sum", std::to_string(SumOfClassSizes()));
  Print("size.classes", std::to_string(kNumClasses));
  // DEPOT-BUDGET, DEPOT-LISTED
  Print("depot.budget_mib", MiB(kDefaultDepotBytes));
  Print("depot.list_bytes", Grouped(sizeof(BlockList)));
  // HEAP-RETURN: an empty span kept per class and heap shard; HEAP-CACHE
  std::size_t kept = 0;
  for (std::size_t c = 0; c < kNumClasses; ++c) kept += SpanBytes(c);
  Print("heap.shards", std::to_string(kHeapShards));
  Print("heap.kept_spans_mib", MiB(kept * kHeapShards));
  Print("heap.span_cache_mib", MiB(kSpanCacheBytes));
  return 0;
}

// HARD-DOUBLE, HARD-LINK: the two first steps of heap exploitation, done to a
// process whose malloc is libconcalloc-malloc (preloaded, or linked first),
// or, built with PROBE_INLINE, through concalloc's inline forms (INLINE-1),
// whose hit paths are compiled into this program. A hardened release
// library stops each with its CHK-DIAG line and abort(); when the process
// gets past the attack, this prints "<clause>: not stopped: ..." and exits 1
// (what a build without the check does, e.g. a mutant or
// CONCALLOC_HARDENED=OFF).
//   hardening_probe double_free | double_free_other_thread | forged_link
// and a third step, reading what malloc hands out (HARD-SECRET):
//   hardening_probe secret_leak   exits 0 when no word of the fresh blocks
//   gives a candidate key; else prints "HARD-SECRET: not kept: ..." and
//   exits 1.
#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>
#include <unistd.h>

#ifdef PROBE_INLINE
#include <concalloc/concalloc.h>
#endif

namespace {

#ifdef PROBE_INLINE
__attribute__((noinline)) void* InlineMalloc(std::size_t n) { return concalloc::InlineAlloc(n); }
__attribute__((noinline)) void InlineFreeOf(void* p) { concalloc::InlineFree(p); }
#endif

// Through volatile pointers, so that the compiler sees no double free.
#ifdef PROBE_INLINE
void* (*volatile do_malloc)(std::size_t) = InlineMalloc;
void (*volatile do_free)(void*) = InlineFreeOf;
#else
void* (*volatile do_malloc)(std::size_t) = std::malloc;
void (*volatile do_free)(void*) = std::free;
#endif

const char* g_clause = "";

// A forged link that the allocator follows without checking points where the
// attacker chose, or (keyed, unchecked) at garbage: then the next malloc
// faults. Either way the attack was not stopped.
void OnFault(int) {
  char line[128];
  const int n = std::snprintf(line, sizeof line,
                              "%s: not stopped: the allocator followed a forged link and faulted\n",
                              g_clause);
  if (n > 0) (void)!write(2, line, static_cast<std::size_t>(n));
  _exit(1);
}

int NotStopped(const char* what) {
  std::fprintf(stderr, "%s: not stopped: %s\n", g_clause, what);
  return 1;
}

int DoubleFree(bool other_thread) {
  g_clause = "HARD-DOUBLE";
  void* p = do_malloc(48);
  do_free(p);
  if (other_thread)
    std::thread([p] { do_free(p); }).join();
  else
    do_free(p);
  void* a = do_malloc(48);
  void* b = do_malloc(48);
  return NotStopped(a == b ? "the next two mallocs returned the same block"
                           : "the second free was ignored");
}

alignas(64) unsigned char g_target[128];

int ForgedLink() {
  g_clause = "HARD-LINK";
  void* p = do_malloc(48);
  void* q = do_malloc(48);
  do_free(p);
  do_free(q);  // the list: q, then p
  // The attacker's 8 bytes over q's link: in release builds a cached
  // block's link is its tag (HDR-1), the 8 bytes right below the pointer;
  // a plain address, as an attacker without the key writes it.
  void* forged = g_target + 32;
  std::uint64_t word = reinterpret_cast<std::uintptr_t>(forged);
  std::memcpy(static_cast<unsigned char*>(q) - 8, &word, sizeof word);
  void* first = do_malloc(48);
  void* second = do_malloc(48);
  if (second == forged) return NotStopped("malloc returned the forged address");
  char what[128];
  std::snprintf(what, sizeof what, "malloc returned %p, then %p", first, second);
  return NotStopped(what);
}

// HARD-SECRET: what an attacker with one uninitialised read does. Blocks are
// freed in ways that send them to every place the allocator keeps free
// blocks (a thread's list and spare, the depot, a span's free list, an
// empty span reused for another class), then taken again; every word of
// the first 64 bytes of each fresh block is XORed with every address near
// the blocks seen (a link or mark names a neighbour) and with 0. A value
// that three different words give is a key candidate: a keyed link
// (next ^ key) or mark gives the key once for each block that carries one,
// while stale user data (a fill) gives no repeat. Values with their top 16
// bits clear are left out: plain links and glibc's safe-linking
// ((address >> 12) ^ next) XORed with a neighbour's address give small
// numbers, not a secret (a release link key has bit 63 set, HARD-LINK).
void FillAndFree(std::vector<void*>& blocks, std::size_t size) {
  for (void* p : blocks) {
    std::memset(p, 0x5A, size);
    do_free(p);
  }
  blocks.clear();
}

void Churn(std::size_t size, std::size_t n, bool shuffled) {
  std::vector<void*> blocks;
  for (std::size_t k = 0; k < n; ++k) blocks.push_back(do_malloc(size));
  if (shuffled)
    for (std::size_t k = blocks.size(); k > 1; --k)
      std::swap(blocks[k - 1], blocks[(k * 2654435761u) % k]);
  FillAndFree(blocks, size);
}

int SecretLeak() {
  g_clause = "HARD-SECRET";
  std::vector<std::uint64_t> words;
  std::vector<std::uintptr_t> near;
  const std::size_t sizes[] = {16, 48, 64, 100, 700, 4000, 8000};
  for (std::size_t size : sizes) {
    // Another thread's blocks: its list, spare and depot batches, then (its
    // cache gone at exit) the spans; one size's empty spans serve the next.
    std::thread([=] { Churn(size, 20000, true); }).join();
    std::thread([=] { Churn(size + 8, 3000, false); }).join();
    // This thread's own spills (segments) and refills.
    Churn(size, 5000, false);
    for (int round = 0; round < 2; ++round) {
      std::vector<void*> fresh;
      for (int k = 0; k < 64; ++k) fresh.push_back(do_malloc(size));
      for (void* p : fresh) {
        const auto a = reinterpret_cast<std::uintptr_t>(p);
        for (std::ptrdiff_t d = -8; d <= 8; ++d)
          near.push_back(a + static_cast<std::uintptr_t>(d * static_cast<std::ptrdiff_t>(size)));
        const std::size_t n = std::min<std::size_t>(size, 64) / 8;
        for (std::size_t w = 0; w < n; ++w) {
          std::uint64_t v;
          std::memcpy(&v, static_cast<char*>(p) + 8 * w, sizeof v);
          words.push_back(v);
        }
      }
      FillAndFree(fresh, size);
    }
  }
  near.push_back(0);
  std::sort(words.begin(), words.end());
  words.erase(std::unique(words.begin(), words.end()), words.end());
  std::sort(near.begin(), near.end());
  near.erase(std::unique(near.begin(), near.end()), near.end());
  std::vector<std::pair<std::uint64_t, std::uint64_t>> candidates;  // (word ^ address, word)
  for (std::uint64_t w : words)
    for (std::uintptr_t a : near)
      if ((w ^ a) >> 48 != 0) candidates.emplace_back(w ^ a, w);
  std::sort(candidates.begin(), candidates.end());
  std::size_t best = 0;
  std::uint64_t key = 0;
  for (std::size_t i = 0; i < candidates.size();) {
    std::size_t j = i;
    std::size_t distinct = 0;
    for (; j < candidates.size() && candidates[j].first == candidates[i].first; ++j)
      distinct += j == i || candidates[j].second != candidates[j - 1].second;
    if (distinct > best) best = distinct, key = candidates[i].first;
    i = j;
  }
  if (best < 3) {
    std::printf("HARD-SECRET: %zu distinct words of fresh blocks, no key candidate\n",
                words.size());
    return 0;
  }
  char what[160];
  std::snprintf(what, sizeof what, "%zu words of fresh blocks give one key candidate, 0x%016llx",
                best, static_cast<unsigned long long>(key));
  std::fprintf(stderr, "HARD-SECRET: not kept: %s\n", what);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGSEGV, OnFault);
  std::signal(SIGBUS, OnFault);
  const char* mode = argc > 1 ? argv[1] : "";
  if (std::strcmp(mode, "double_free") == 0) return DoubleFree(false);
  if (std::strcmp(mode, "double_free_other_thread") == 0) return DoubleFree(true);
  if (std::strcmp(mode, "forged_link") == 0) return ForgedLink();
  if (std::strcmp(mode, "secret_leak") == 0) return SecretLeak();
  std::fprintf(stderr,
               "usage: hardening_probe double_free|double_free_other_thread|forged_link|"
               "secret_leak\n");
  return 2;
}

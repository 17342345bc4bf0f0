// CHECK-*: the properties behind concalloc-check (contract.h). Every failure
// names its rule: the spec's ID where concalloc's contract has one, else
// the C standard's (C17 7.22.3) or POSIX's rule in a word.
#include "contract.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <rapidcheck.h>
#include <rapidcheck/state.h>

namespace concalloc_check {
// CHECK-REPORT: the first failure of a property's run, as it was found.
// RapidCheck prints the shrunk case's rerun; when the bug depends on state
// outside the generated sequence (a counter across calls or cases), that
// rerun may pass ("no exceptions thrown") and name no rule: the run then
// prints this one too. Set on the thread that runs the case.
static std::string g_first_failure;
static std::chrono::steady_clock::time_point g_first_failure_at;
#define CHECK_FAIL(msg)                                  \
  do {                                                   \
    std::string check_fail_message_ = (msg);             \
    if (g_first_failure.empty()) {                       \
      g_first_failure = check_fail_message_;             \
      g_first_failure_at = std::chrono::steady_clock::now(); \
    }                                                    \
    RC_FAIL(check_fail_message_);                        \
  } while (0)

// CHECK-REPORT: shrinking ends within the budget (SetShrinkSeconds) after a
// property's first failure. A failure that comes back on some reruns only
// keeps RapidCheck shrinking for as long as one of its tries fails (minutes
// were seen); once the budget is spent, every case passes at once and the
// smallest failing case found so far is the one printed.
static int g_shrink_seconds = 30;
static bool g_shrink_stopped = false;
static bool ShrinkTimeUp() {
  if (g_first_failure.empty()) return false;
  if (std::chrono::steady_clock::now() - g_first_failure_at <
      std::chrono::seconds(g_shrink_seconds))
    return false;
  g_shrink_stopped = true;
  return true;
}

// Ends a property's run: prints the first failure's rule when it failed.
static bool NameFirstFailure(bool passed) {
  if (!passed && !g_first_failure.empty())
    std::printf("First failure (before shrinking): %s\n", g_first_failure.c_str());
  if (!passed && g_shrink_stopped)
    std::printf("note: shrinking stopped after %d s (--shrink-seconds): the failure does not "
                "come back on every rerun, so the case above may pass when rerun\n",
                g_shrink_seconds);
  g_first_failure.clear();
  g_shrink_stopped = false;
  return passed;
}

void SetShrinkSeconds(int seconds) { g_shrink_seconds = seconds; }

namespace {

// ---- CHECK-SEQ: one thread, a model of the live blocks ----

struct Live {
  std::size_t size;      // bytes asked for
  std::size_t align;     // alignment asked for (0: the default)
  unsigned char fill;    // every one of its `size` bytes
};

struct Model {
  std::map<int, Live> live;
  int next_id = 0;
};

struct Sut {
  const Api* api;
  std::map<int, unsigned char*> ptr;
  std::map<int, std::size_t> span;  // bytes it occupies: max(size, usable, 1)
};

using Cmd = rc::state::Command<Model, Sut>;

// Whether the checks may fork (SetForkEnabled).
std::atomic<bool> g_fork_enabled{true};

// The allocator of the check running now (commands consult it when they
// are generated, to leave out what it does not have).
const Api* g_api = nullptr;

// The alignment C17 7.22.3 promises a block of n bytes from malloc: the
// fundamental alignment (16 on x86-64), or the largest power of two not
// above n for a smaller block (an object of n bytes needs no more).
std::size_t FundamentalAlignment(std::size_t n) {
  std::size_t a = alignof(std::max_align_t);
  while (a > 1 && a > n) a /= 2;
  return a;
}

std::string Hex(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

void VerifyBlock(const Sut& sut, int id, const Live& b, const char* rule) {
  const unsigned char* p = sut.ptr.at(id);
  for (std::size_t k = 0; k < b.size; ++k)
    if (p[k] != b.fill)
      CHECK_FAIL(std::string(rule) + ": byte " + std::to_string(k) + " of block " +
              std::to_string(id) + " (" + std::to_string(b.size) + " bytes at " + Hex(p) +
              ") changed while it was live");
}

bool EdgesIntact(const unsigned char* p, const Live& b) {
  const std::size_t n = std::min<std::size_t>(b.size, 64);
  for (std::size_t k = 0; k < n; ++k)
    if (p[k] != b.fill || p[b.size - 1 - k] != b.fill) return false;
  return true;
}

// Every other live block's first and last bytes, after a step that wrote
// memory (a new block's fill reaches only its own bytes).
void VerifyEdges(const Model& m, const Sut& sut, const char* rule) {
  for (const auto& [id, b] : m.live) {
    const unsigned char* p = sut.ptr.at(id);
    const std::size_t n = std::min<std::size_t>(b.size, 64);
    for (std::size_t k = 0; k < n; ++k)
      if (p[k] != b.fill || p[b.size - 1 - k] != b.fill)
        CHECK_FAIL(std::string(rule) + ": block " + std::to_string(id) + " (" +
                std::to_string(b.size) + " bytes at " + Hex(p) +
                ") changed when another block was written");
  }
}

// A new block's alignment (align 0: the allocator's default) and usable
// size; returns the usable size (size when the API has none).
std::size_t CheckAlignedAndUsable(const Api& api, const unsigned char* p, std::size_t size,
                                  std::size_t align) {
  const std::size_t want =
      align != 0 ? align : (api.is_malloc ? FundamentalAlignment(size) : (size != 0 ? 16 : 1));
  if (reinterpret_cast<std::uintptr_t>(p) % want != 0)
    CHECK_FAIL((api.is_malloc ? std::string("C17 7.22.3 alignment") : std::string("ALLOC-1")) +
            ": a block of " + std::to_string(size) + " bytes at " + Hex(p) +
            " is not aligned to " + std::to_string(want));
  if (api.usable_size == nullptr) return size;
  const std::size_t usable = api.usable_size(const_cast<unsigned char*>(p));
  if (usable < size)
    CHECK_FAIL(std::string(api.is_malloc ? "malloc_usable_size" : "USABLE-1") +
            ": usable size " + std::to_string(usable) + " is below the " +
            std::to_string(size) + " bytes asked");
  return usable;
}

// A new block p of `size` bytes asked with alignment `align` (0: the
// allocator's default): checked, filled, and entered in sut under `id`.
void TakeNewBlock(const Model& m, Sut& sut, int id, unsigned char* p, std::size_t size,
                  std::size_t align, unsigned char fill, bool zeroed) {
  const Api& api = *sut.api;
  const std::size_t usable = CheckAlignedAndUsable(api, p, size, align);
  const std::size_t span = std::max<std::size_t>({size, usable, 1});
  for (const auto& [other, q] : sut.ptr) {
    const std::size_t qn = sut.span.at(other);
    if (p < q + qn && q < p + span)
      CHECK_FAIL(std::string(api.is_malloc ? "C17 7.22.3 disjoint blocks" : "ALLOC-5") +
              ": the new block [" + Hex(p) + ", +" + std::to_string(span) +
              ") overlaps live block " + std::to_string(other) + " [" + Hex(q) + ", +" +
              std::to_string(qn) + ")" +
              (q >= p + std::max<std::size_t>(size, 1) ? " (its usable size reaches into it)"
                                                        : ""));
  }
  if (zeroed)
    for (std::size_t k = 0; k < size; ++k)
      if (p[k] != 0)
        CHECK_FAIL("C17 7.22.3.2 calloc zeroes: byte " + std::to_string(k) + " of a calloc block of " +
                std::to_string(size) + " bytes is " + std::to_string(p[k]));
  // Every usable byte may be used: tried in a child for every fourth block
  // with slack (a child that writes them, then allocates and frees, and
  // finds every other live block as it was); the checker itself writes
  // the caller's bytes only, so that a bad usable size cannot corrupt it.
  if (usable > size && id % 4 == 0 && g_fork_enabled.load()) {
    std::fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) {
      std::memset(p, fill, usable);
      for (std::size_t k = 0; k < 16; ++k) api.release(api.alloc(8 + 24 * k));
      for (const auto& [other, q] : sut.ptr)
        if (q != nullptr && m.live.count(other) == 1 && !EdgesIntact(q, m.live.at(other)))
          _exit(1);
      _exit(0);
    }
    int status = 0;
    if (pid > 0 && waitpid(pid, &status, 0) == pid && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
      CHECK_FAIL(std::string(api.is_malloc ? "malloc_usable_size" : "USABLE-1") + ": writing the " +
              std::to_string(usable) + " usable bytes of a block of " + std::to_string(size) +
              " at " + Hex(p) +
              (WIFEXITED(status) ? " changed another live block" : " broke the allocator (the process died)"));
  }
  std::memset(p, fill, size);
  sut.ptr[id] = p;
  sut.span[id] = span;
  VerifyEdges(m, sut, api.is_malloc ? "C17 7.22.3 disjoint blocks" : "ALLOC-5");
}

unsigned char FillOf(int id) { return static_cast<unsigned char>(0x11 + id * 37 % 200); }

rc::Gen<std::size_t> GenSize() {
  return rc::gen::weightedOneOf<std::size_t>({
      {4, rc::gen::inRange<std::size_t>(0, 65)},
      {3, rc::gen::inRange<std::size_t>(65, 1025)},
      {2, rc::gen::inRange<std::size_t>(1025, 9000)},
      {1, rc::gen::inRange<std::size_t>(9000, 100000)},
  });
}

struct Alloc : Cmd {
  explicit Alloc(const Model&) {}
  std::size_t size = *GenSize();
  void apply(Model& m) const override {
    m.live[m.next_id] = {size, 0, FillOf(m.next_id)};
    m.next_id++;
  }
  void run(const Model& m, Sut& sut) const override {
    auto* p = static_cast<unsigned char*>(sut.api->alloc(size));
    if (p == nullptr && !(size == 0 && sut.api->is_malloc))
      CHECK_FAIL(std::string(sut.api->is_malloc ? "C17 7.22.3.4 malloc" : "ALLOC-1") +
              ": a block of " + std::to_string(size) + " bytes was refused");
    if (p == nullptr) {  // malloc(0) may return NULL: nothing is live then
      sut.ptr[m.next_id] = nullptr;
      sut.span[m.next_id] = 0;
      return;
    }
    TakeNewBlock(m, sut, m.next_id, p, size, 0, FillOf(m.next_id), false);
  }
  void show(std::ostream& os) const override { os << "alloc(" << size << ")"; }
};

struct Calloc : Cmd {
  explicit Calloc(const Model&) {
    if (g_api->calloc == nullptr) RC_DISCARD("no calloc");
  }
  std::size_t n = *rc::gen::inRange<std::size_t>(0, 17);
  std::size_t each = *rc::gen::inRange<std::size_t>(0, 600);
  void apply(Model& m) const override {
    m.live[m.next_id] = {n * each, 0, FillOf(m.next_id)};
    m.next_id++;
  }
  void run(const Model& m, Sut& sut) const override {
    auto* p = static_cast<unsigned char*>(sut.api->calloc(n, each));
    if (p == nullptr && n * each != 0)
      CHECK_FAIL("C17 7.22.3.2 calloc: " + std::to_string(n) + " x " + std::to_string(each) +
              " bytes were refused");
    if (p == nullptr) {
      sut.ptr[m.next_id] = nullptr;
      sut.span[m.next_id] = 0;
      return;
    }
    TakeNewBlock(m, sut, m.next_id, p, n * each, 0, FillOf(m.next_id), true);
  }
  void show(std::ostream& os) const override { os << "calloc(" << n << ", " << each << ")"; }
};

// Aligned allocations: aligned_alloc, posix_memalign, memalign (malloc) or
// the table's alloc_aligned (concrt), whichever are there.
enum AlignedHow { kAlignedAlloc, kPosixMemalign, kMemalign, kTableAligned };
const char* const kAlignedNames[] = {"aligned_alloc", "posix_memalign", "memalign",
                                     "alloc_aligned"};
int PickAlignedHow() {
  std::vector<int> hows;
  if (g_api->is_malloc) {
    if (g_api->aligned_alloc != nullptr) hows.push_back(kAlignedAlloc);
    if (g_api->posix_memalign != nullptr) hows.push_back(kPosixMemalign);
    if (g_api->memalign != nullptr) hows.push_back(kMemalign);
  } else if (g_api->alloc_aligned != nullptr) {
    hows.push_back(kTableAligned);
  }
  if (hows.empty()) RC_DISCARD("no aligned allocation");
  return *rc::gen::elementOf(hows);
}

struct AllocAligned : Cmd {
  explicit AllocAligned(const Model&) {}
  int how = PickAlignedHow();
  std::size_t align = std::size_t{1} << *rc::gen::inRange(3, 13);
  std::size_t size = *GenSize();
  std::size_t Size() const {  // aligned_alloc's size: a multiple of the alignment (C17)
    return how == kAlignedAlloc ? (size / align + 1) * align : size;
  }
  void apply(Model& m) const override {
    m.live[m.next_id] = {Size(), align, FillOf(m.next_id)};
    m.next_id++;
  }
  void run(const Model& m, Sut& sut) const override {
    const Api& api = *sut.api;
    void* p = nullptr;
    const char* rule = "";
    switch (how) {
      case kAlignedAlloc:
        p = api.aligned_alloc(align, Size()), rule = "C17 7.22.3.1 aligned_alloc";
        break;
      case kPosixMemalign:
        if (api.posix_memalign(&p, align, Size()) != 0) p = nullptr;
        rule = "POSIX posix_memalign";
        break;
      case kMemalign:
        p = api.memalign(align, Size()), rule = "memalign";
        break;
      default:
        p = api.alloc_aligned(Size(), align), rule = "ALIGN-1";
    }
    if (p == nullptr && Size() != 0)
      CHECK_FAIL(std::string(rule) + ": " + std::to_string(Size()) + " bytes aligned to " +
              std::to_string(align) + " were refused");
    if (p == nullptr) {
      sut.ptr[m.next_id] = nullptr;
      sut.span[m.next_id] = 0;
      return;
    }
    // (A block of 0 bytes holds no object: its alignment is not checked.)
    if (Size() != 0 && reinterpret_cast<std::uintptr_t>(p) % align != 0)
      CHECK_FAIL(std::string(rule) + ": the block at " + Hex(p) + " is not aligned to " +
              std::to_string(align));
    TakeNewBlock(m, sut, m.next_id, static_cast<unsigned char*>(p), Size(),
                 Size() != 0 ? align : 1, FillOf(m.next_id), false);
  }
  void show(std::ostream& os) const override {
    os << kAlignedNames[how] << "(alignment " << align << ", " << Size() << " bytes)";
  }
};

// A live block, chosen among the model's.
int PickLive(const Model& m) {
  if (m.live.empty()) RC_DISCARD("no live block");
  std::vector<int> ids;
  for (const auto& [id, b] : m.live) ids.push_back(id);
  return *rc::gen::elementOf(ids);
}

struct Free : Cmd {
  int id;
  explicit Free(const Model& m) : id(PickLive(m)) {}
  void checkPreconditions(const Model& m) const override { RC_PRE(m.live.count(id) == 1); }
  void apply(Model& m) const override { m.live.erase(id); }
  void run(const Model& m, Sut& sut) const override {
    unsigned char* p = sut.ptr.at(id);
    if (p != nullptr)
      VerifyBlock(sut, id, m.live.at(id),
                  sut.api->is_malloc ? "C17 7.22.3 contents kept until free" : "ALLOC-5");
    const int saved = 4321;
    errno = saved;
    sut.api->release(p);
    if (sut.api->is_malloc && sut.api->errno_rules && errno != saved)
      CHECK_FAIL("POSIX free preserves errno: free(" + Hex(p) + ") changed errno to " +
              std::to_string(errno));
    sut.ptr.erase(id);
    sut.span.erase(id);
  }
  void show(std::ostream& os) const override { os << "free(block " << id << ")"; }
};

struct Realloc : Cmd {
  int id;
  std::size_t size = *GenSize();
  explicit Realloc(const Model& m) : id(PickLive(m)) {
    if (g_api->realloc == nullptr) RC_DISCARD("no realloc");
  }
  void checkPreconditions(const Model& m) const override {
    RC_PRE(m.live.count(id) == 1);
    RC_PRE(size > 0);  // realloc(p, 0) is implementation-defined (C17 7.22.3.5)
  }
  void apply(Model& m) const override {
    Live b = m.live.at(id);
    b.size = size;
    b.align = 0;
    m.live[id] = b;
  }
  void run(const Model& m, Sut& sut) const override {
    const Live& old = m.live.at(id);
    unsigned char* p = sut.ptr.at(id);
    if (p != nullptr) VerifyBlock(sut, id, old, "C17 7.22.3 contents kept until free");
    auto* q = static_cast<unsigned char*>(sut.api->realloc(p, size));
    if (q == nullptr)
      CHECK_FAIL("C17 7.22.3.5 realloc: " + std::to_string(size) + " bytes were refused");
    // p is gone: the case no longer holds it, even if a check below fails
    // (q is the case's once it has passed them, in TakeNewBlock).
    sut.ptr.erase(id);
    sut.span.erase(id);
    const std::size_t kept = std::min(old.size, size);
    for (std::size_t k = 0; k < kept; ++k)
      if (q[k] != old.fill)
        CHECK_FAIL("C17 7.22.3.5 realloc keeps the contents: byte " + std::to_string(k) + " of " +
                std::to_string(kept) + " is lost (" + std::to_string(old.size) + " -> " +
                std::to_string(size) + " bytes)");
    Model rest = m;
    rest.live.erase(id);
    // The bytes past the old size are new: filled like the rest.
    TakeNewBlock(rest, sut, id, q, size, 0, old.fill, false);
  }
  void show(std::ostream& os) const override {
    os << "realloc(block " << id << ", " << size << ")";
  }
};

struct Flush : Cmd {
  explicit Flush(const Model&) {
    if (g_api->flush == nullptr) RC_DISCARD("no flush");
  }
  void run(const Model&, Sut& sut) const override { sut.api->flush(); }
  void show(std::ostream& os) const override { os << "flush()"; }
};

}  // namespace

bool CheckSequences(const Api& api) {
  g_api = &api;
  g_first_failure.clear();
  return NameFirstFailure(rc::check("CHECK-SEQ: " + api.name + ": generated sequences on one thread", [&] {
    if (ShrinkTimeUp()) return;
    Model model;
    Sut sut{&api, {}, {}};
    // A case's live blocks (those in sut: a block joins it once its checks
    // passed) are released however the case ends, a failure (an exception)
    // included: no case inherits another's blocks, so that
    // RapidCheck's rerun of the shrunk case, which prints the rule, meets
    // the allocator in the state the case itself made.
    struct ReleaseAll {
      Sut& sut;
      ~ReleaseAll() {
        for (auto& [id, p] : sut.ptr) sut.api->release(p);
      }
    } release_all{sut};
    // Weights by repetition: allocations 4, frees 4, realloc 2, the rest 1.
    rc::state::check(model, sut,
                     rc::state::gen::execOneOfWithArgs<Alloc, Alloc, Alloc, Alloc, Calloc,
                                                       AllocAligned, Flush, Free, Free, Free,
                                                       Free, Realloc, Realloc>());
  }));
}

// ---- CHECK-CHURN: long runs on one thread ----
// A bug that fires once in hundreds of calls (a counter, a refill, a batch
// boundary) hides in CHECK-SEQ's short sequences. Here each case is one
// long run, up to 20,000 calls of malloc and free with up to 2,000 blocks
// live, drawn from the case's own seed; every new block is checked at once
// (alignment, usable size, no overlap with any live block: an interval
// map), so the rule named is the cause, not a later symptom; each block's
// contents are checked when it is freed.
namespace {

struct ChurnBlock {
  unsigned char* p;
  std::size_t size, span;
  unsigned char fill;
};

std::uint64_t NextRandom(std::uint64_t& x) {  // xorshift64*
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  return x * 0x2545F4914F6CDD1DULL;
}

std::size_t ChurnSize(std::uint64_t r) {  // CHECK-SEQ's mix of sizes
  const unsigned pick = static_cast<unsigned>(r % 10);
  r /= 10;
  if (pick < 4) return r % 65;
  if (pick < 7) return 65 + r % 960;
  if (pick < 9) return 1025 + r % 7975;
  return 9000 + r % 91000;
}

}  // namespace

bool CheckChurn(const Api& api) {
  g_first_failure.clear();
  return NameFirstFailure(rc::check("CHECK-CHURN: " + api.name + ": long runs on one thread", [&] {
    if (ShrinkTimeUp()) return;
    const int calls = *rc::gen::inRange(1, 20001);
    const int max_live = *rc::gen::inRange(1, 2001);
    std::uint64_t x = *rc::gen::arbitrary<std::uint64_t>() | 1;
    const char* disjoint = api.is_malloc ? "C17 7.22.3 disjoint blocks" : "ALLOC-5";
    std::vector<ChurnBlock> live;
    std::map<std::uintptr_t, std::size_t> by_address;  // start -> span, of the live blocks
    struct ReleaseAll {  // however the case ends (CHECK-REPORT)
      const Api& api;
      std::vector<ChurnBlock>& live;
      ~ReleaseAll() {
        for (const ChurnBlock& b : live) api.release(b.p);
      }
    } release_all{api, live};
    for (int call = 0; call < calls; ++call) {
      const std::uint64_t r = NextRandom(x);
      const bool alloc = live.empty() || (static_cast<int>(live.size()) < max_live && (r & 1) != 0);
      if (!alloc) {
        const std::size_t k = static_cast<std::size_t>((r >> 1) % live.size());
        const ChurnBlock b = live[k];
        for (std::size_t i = 0; i < b.size; ++i)
          if (b.p[i] != b.fill)
            CHECK_FAIL(std::string(api.is_malloc ? "C17 7.22.3 contents kept until free"
                                                 : "FREE-2") +
                       ": byte " + std::to_string(i) + " of a block of " +
                       std::to_string(b.size) + " bytes at " + Hex(b.p) +
                       " changed while it was live (seen at its free, call " +
                       std::to_string(call) + ")");
        live[k] = live.back();
        live.pop_back();
        by_address.erase(reinterpret_cast<std::uintptr_t>(b.p));
        api.release(b.p);
        continue;
      }
      const std::size_t size = ChurnSize(r >> 1);
      auto* p = static_cast<unsigned char*>(api.alloc(size));
      if (p == nullptr) {
        if (size == 0 && api.is_malloc) continue;  // malloc(0) may return NULL
        CHECK_FAIL(std::string(api.is_malloc ? "C17 7.22.3.4 malloc" : "ALLOC-1") +
                   ": a block of " + std::to_string(size) + " bytes was refused (call " +
                   std::to_string(call) + ")");
      }
      const std::size_t usable = CheckAlignedAndUsable(api, p, size, 0);
      const std::size_t span = std::max<std::size_t>({size, usable, 1});
      const auto a = reinterpret_cast<std::uintptr_t>(p);
      auto next = by_address.lower_bound(a);
      auto overlapped = by_address.end();
      if (next != by_address.end() && next->first < a + span) overlapped = next;
      if (next != by_address.begin()) {
        auto prev = std::prev(next);
        if (prev->first + prev->second > a) overlapped = prev;
      }
      if (overlapped != by_address.end())
        CHECK_FAIL(std::string(disjoint) + ": the new block [" + Hex(p) + ", +" +
                   std::to_string(span) + ") overlaps the live block [" +
                   Hex(reinterpret_cast<void*>(overlapped->first)) + ", +" +
                   std::to_string(overlapped->second) + ") (call " + std::to_string(call) +
                   " of a run)");
      const auto fill = static_cast<unsigned char>(0x21 + (r >> 40) % 200);
      std::memset(p, fill, size);
      live.push_back({p, size, span, fill});
      by_address[a] = span;
    }
  }));
}

namespace {

// ---- CHECK-LIMITS ----

struct Findings {
  std::vector<std::string> failures;
  void Expect(bool ok, const std::string& what) {
    if (!ok) failures.push_back(what);
  }
  bool Report(const char* title) const {
    if (failures.empty()) {
      std::printf("OK, passed %s\n", title);
      return true;
    }
    std::printf("Falsified %s:\n", title);
    for (const std::string& f : failures) std::printf("  %s\n", f.c_str());
    return false;
  }
};

bool Filled(const unsigned char* p, std::size_t n, unsigned char v) {
  for (std::size_t k = 0; k < n; ++k)
    if (p[k] != v) return false;
  return true;
}

}  // namespace

bool CheckLimits(const Api& api) {
  Findings f;
  const std::size_t huge[] = {~std::size_t{0}, ~std::size_t{0} - 4096,
                              static_cast<std::size_t>(PTRDIFF_MAX) + 1};
  const char* alloc_rule = api.is_malloc ? "C17 7.22.3.4 malloc fails with NULL" : "ALLOC-3";
  const bool errno_rules = !api.is_malloc || api.errno_rules;
  // POSIX (and concalloc's CAPI-1): a failed allocation sets errno to ENOMEM.
  const char* errno_rule = api.is_malloc ? "POSIX: errno is ENOMEM" : "CAPI-1: errno is ENOMEM";
  auto failed = [&](void* p, const std::string& rule, const std::string& call) {
    f.Expect(p == nullptr, rule + ": " + call + " gave " + Hex(p));
    if (p == nullptr && errno_rules)
      f.Expect(errno == ENOMEM, std::string(errno_rule) + " after " + call + " failed: errno " +
                                    std::to_string(errno));
  };
  for (std::size_t n : huge) {
    errno = 0;
    void* p = api.alloc(n);
    failed(p, alloc_rule, "alloc(" + std::to_string(n) + ")");
    if (p != nullptr) api.release(p);
  }
  auto* keep = static_cast<unsigned char*>(api.alloc(100));
  f.Expect(keep != nullptr, std::string(alloc_rule) + ": alloc(100) failed");
  if (keep == nullptr) return f.Report(("CHECK-LIMITS: " + api.name).c_str());
  std::memset(keep, 0x77, 100);
  if (api.calloc != nullptr) {
    const std::size_t pairs[][2] = {{~std::size_t{0} / 2 + 1, 2},
                                    {std::size_t{1} << 33, std::size_t{1} << 33},
                                    {3, ~std::size_t{0} / 3 + 1}};
    for (const auto& pr : pairs) {
      errno = 0;
      void* p = api.calloc(pr[0], pr[1]);
      failed(p, "C17 7.22.3.2 calloc overflow",
             "calloc(" + std::to_string(pr[0]) + ", " + std::to_string(pr[1]) + ")");
      if (p != nullptr) api.release(p);
    }
  }
  if (api.realloc != nullptr) {
    errno = 0;
    void* p = api.realloc(keep, ~std::size_t{0} - 64);
    failed(p, "C17 7.22.3.5 realloc fails with NULL", "realloc(p, 2^64 - 65)");
    if (p != nullptr) keep = static_cast<unsigned char*>(p);
    f.Expect(p != nullptr || Filled(keep, 100, 0x77),
             "C17 7.22.3.5 realloc that fails keeps the block: its contents changed");
  }
  if (api.reallocarray != nullptr) {
    errno = 0;
    void* p = api.reallocarray(keep, ~std::size_t{0} / 2 + 1, 4);
    failed(p, "reallocarray overflow", "reallocarray(p, 2^63, 4)");
    if (p != nullptr) keep = static_cast<unsigned char*>(p);
    f.Expect(p != nullptr || Filled(keep, 100, 0x77),
             "reallocarray that fails keeps the block: its contents changed");
  }
  if (api.is_malloc && api.posix_memalign != nullptr) {
    void* q = reinterpret_cast<void*>(0x1234);
    const int saved = 99;
    errno = saved;
    int rc = api.posix_memalign(&q, 24, 64);
    f.Expect(rc == EINVAL && q == reinterpret_cast<void*>(0x1234) && errno == saved,
             "POSIX posix_memalign: an alignment of 24 (not a power of two) must give EINVAL, "
             "leave the pointer and errno: gave " + std::to_string(rc));
    q = reinterpret_cast<void*>(0x1234);
    rc = api.posix_memalign(&q, 4096, ~std::size_t{0} - 8192);
    f.Expect(rc == ENOMEM && q == reinterpret_cast<void*>(0x1234),
             "POSIX posix_memalign: an impossible size must give ENOMEM and leave the pointer: "
             "gave " + std::to_string(rc));
  }
  if (!api.is_malloc && api.alloc_aligned != nullptr) {
    errno = 0;
    void* p = api.alloc_aligned(~std::size_t{0} - 8192, 4096);
    failed(p, "ALLOC-3", "alloc_aligned(2^64 - 8193, 4096)");
  }
  // The one block kept all along must still be intact and free cleanly.
  f.Expect(Filled(keep, 100, 0x77), "C17 7.22.3 contents kept until free: the kept block changed");
  api.release(keep);
  if (api.is_malloc) {
    errno = 0;
    api.release(nullptr);
    f.Expect(errno == 0, "C17 7.22.3.3 free(NULL) does nothing: errno changed");
  }
  return f.Report(("CHECK-LIMITS: " + api.name + ": impossible sizes").c_str());
}

namespace {

// ---- CHECK-THREADS ----

enum class Op { kAlloc, kFreeOwn, kHandOn, kFreeReceived, kFork };

struct ThreadScript {
  std::vector<Op> ops;
  std::vector<std::size_t> sizes;  // one per kAlloc
};

struct Held {
  unsigned char* p;
  std::size_t size;
  unsigned char fill;
};

struct Mailbox {
  std::mutex mu;
  std::deque<Held> blocks;
};

// A child of fork() taken while other threads allocate: it must allocate
// and free on its own and exit; a child that hangs or crashes fails.
std::string ForkWhileAllocating(const Api& api) {
  const pid_t pid = fork();
  if (pid < 0) return "";
  if (pid == 0) {
    for (int k = 0; k < 200; ++k) {
      auto* p = static_cast<unsigned char*>(api.alloc(16 + k * 8));
      if (p == nullptr) _exit(3);
      std::memset(p, k, 16 + k * 8);
      api.release(p);
    }
    _exit(0);
  }
  for (int waited = 0; waited < 1000; ++waited) {  // 10 s
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
      return "POSIX fork: the child of fork() taken while other threads allocate could not "
             "allocate (exit status " + std::to_string(status) + ")";
    }
    usleep(10000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return "POSIX fork: the child of fork() taken while other threads allocate hung in the "
         "allocator (10 s)";
}

}  // namespace

bool CheckThreads(const Api& api) {
  const bool fork_on = g_fork_enabled.load();
  g_first_failure.clear();
  return NameFirstFailure(rc::check("CHECK-THREADS: " + api.name +
                       ": blocks handed between threads, freed elsewhere, threads exit" +
                       (fork_on ? ", fork" : ""),
                   [&] {
    if (ShrinkTimeUp()) return;
    const int nt = *rc::gen::inRange(2, 5);
    std::vector<ThreadScript> scripts(static_cast<std::size_t>(nt));
    for (ThreadScript& s : scripts) {
      const int n = *rc::gen::inRange(1, 40);
      for (int k = 0; k < n; ++k) {
        const int pick = *rc::gen::inRange(0, fork_on ? 41 : 40);
        const Op op = pick >= 40 ? Op::kFork
                    : pick < 16  ? Op::kAlloc
                    : pick < 24  ? Op::kFreeOwn
                    : pick < 32  ? Op::kHandOn
                                 : Op::kFreeReceived;
        s.ops.push_back(op);
        if (op == Op::kAlloc) s.sizes.push_back(*GenSize());
      }
    }
    std::vector<Mailbox> boxes(static_cast<std::size_t>(nt));
    std::mutex fail_mu;
    std::string failure;
    auto fail = [&](const std::string& what) {
      std::lock_guard<std::mutex> lock(fail_mu);
      if (failure.empty()) failure = what;
    };
    auto verify = [&](const Held& h, const char* where) {
      for (std::size_t k = 0; k < h.size; ++k)
        if (h.p[k] != h.fill) {
          fail(std::string(api.is_malloc ? "C17 7.22.3 contents kept until free" : "FREE-2") +
               ": byte " + std::to_string(k) + " of a block of " + std::to_string(h.size) +
               " bytes " + where);
          return false;
        }
      return true;
    };
    std::vector<std::thread> threads;
    for (int t = 0; t < nt; ++t) {
      threads.emplace_back([&, t] {
        const ThreadScript& s = scripts[static_cast<std::size_t>(t)];
        std::vector<Held> own;
        std::size_t next_size = 0;
        for (Op op : s.ops) {
          switch (op) {
            case Op::kAlloc: {
              const std::size_t n = s.sizes[next_size++];
              auto* p = static_cast<unsigned char*>(api.alloc(n));
              if (p == nullptr) {
                if (n != 0 || !api.is_malloc) fail("a block of " + std::to_string(n) + " bytes was refused");
                break;
              }
              const auto fill = static_cast<unsigned char>(0x21 + t * 31 + own.size());
              std::memset(p, fill, n);
              own.push_back({p, n, fill});
              break;
            }
            case Op::kFreeOwn:
              if (!own.empty()) {
                verify(own.back(), "changed in its own thread");
                api.release(own.back().p);
                own.pop_back();
              }
              break;
            case Op::kHandOn:
              if (!own.empty()) {
                Mailbox& box = boxes[static_cast<std::size_t>((t + 1) % nt)];
                std::lock_guard<std::mutex> lock(box.mu);
                box.blocks.push_back(own.back());
                own.pop_back();
              }
              break;
            case Op::kFreeReceived: {
              Mailbox& box = boxes[static_cast<std::size_t>(t)];
              Held h{nullptr, 0, 0};
              {
                std::lock_guard<std::mutex> lock(box.mu);
                if (!box.blocks.empty()) {
                  h = box.blocks.front();
                  box.blocks.pop_front();
                }
              }
              if (h.p != nullptr) {
                verify(h, "changed on its way to another thread");
                api.release(h.p);  // FREE-2: freed on another thread than its own
              }
              break;
            }
            case Op::kFork:
              if (std::string r = ForkWhileAllocating(api); !r.empty()) fail(r);
              break;
          }
        }
        // The thread exits: it frees what it still holds (its mailbox is
        // freed after it is gone, by the main thread).
        for (const Held& h : own) {
          verify(h, "changed in its own thread");
          api.release(h.p);
        }
      });
    }
    for (std::thread& th : threads) th.join();
    for (Mailbox& box : boxes)
      for (const Held& h : box.blocks) {
        verify(h, "changed after the thread that made it exited");
        api.release(h.p);
      }
    if (!failure.empty()) CHECK_FAIL(failure);
  }));
}

void SetForkEnabled(bool on) { g_fork_enabled.store(on); }

namespace {
long RssKib() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}
}  // namespace

bool CheckReuse(const Api& api) {
  // 64 rounds of 256 blocks of 16 KiB (4 MiB) made on one thread and freed
  // on another: 256 MiB moved through 4 MiB.
  constexpr int kRounds = 64, kBlocks = 256;
  constexpr std::size_t kSize = 16384;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<unsigned char*> handed;
  bool done = false;
  long before = 0, peak = 0;
  std::thread consumer([&] {
    for (;;) {
      std::vector<unsigned char*> batch;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return !handed.empty() || done; });
        if (handed.empty() && done) return;
        batch.swap(handed);
      }
      for (unsigned char* p : batch) api.release(p);
      cv.notify_all();
    }
  });
  for (int r = 0; r < kRounds; ++r) {
    std::vector<unsigned char*> made;
    for (int k = 0; k < kBlocks; ++k) {
      auto* p = static_cast<unsigned char*>(api.alloc(kSize));
      if (p == nullptr) break;
      for (std::size_t off = 0; off < kSize; off += 4096) p[off] = 1;
      made.push_back(p);
    }
    if (r == 1) before = RssKib();
    peak = std::max(peak, RssKib());
    std::unique_lock<std::mutex> lock(mu);
    handed.insert(handed.end(), made.begin(), made.end());
    cv.notify_all();
    cv.wait(lock, [&] { return handed.empty(); });  // freed before the next round
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_all();
  consumer.join();
  Findings f;
  const long grown = peak - before;
  f.Expect(grown < 64 * 1024,
           std::string(api.is_malloc ? "C17 7.22.3.3 free makes the space available"
                                     : "FREE-2") +
               ": blocks freed on another thread are not reused: the resident set grew by " +
               std::to_string(grown / 1024) + " MiB while 256 MiB moved through 4 MiB of live "
               "blocks");
  return f.Report(("CHECK-REUSE: " + api.name + ": blocks freed on another thread come back")
                      .c_str());
}

}  // namespace concalloc_check

// The stateful model-based property test (rc::state). Commands: Alloc,
// AllocAligned, Free, Write, Verify, FlushThreadCache, a burst of one size
// allocated and freed, and "run the next command on a new thread". The
// model tracks live handles, their sizes and fill bytes. After every step: alignment (ALLOC-1, ALIGN-1), usable size
// (USABLE-1), no overlap (ALLOC-5), contents (ALLOC-5), every cache
// invariant through Validate (INV-*), the cache bound (INV-CACHE-BOUND) and
// the conservation of blocks (INV-CONSERVE).
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <concalloc/concalloc.h>

#include "test_support.h"

namespace {

using concalloc::test::CountingBackend;

struct LiveBlock {
  std::size_t size;
  std::size_t alignment;  // as asked: 1 for Alloc
  int fill;               // -1 until written
};

struct Model {
  std::map<int, LiveBlock> live;
  int next_id = 0;
  std::size_t depth = 0;
  std::size_t depot_budget = 0;
};

struct Sut {
  std::map<int, unsigned char*> ptr;
};

using Cmd = rc::state::Command<Model, Sut>;

// The checks that hold after every step (m: the model after the step).
void CheckAfterStep(const Model& m, const Sut& sut) {
  const concalloc::ValidationResult r = concalloc::Validate();
  if (!r) RC_FAIL(std::string(r.clause) + ": " + r.reason);  // INV-*
  const concalloc::ThreadStats s = concalloc::GetThreadStats();
  // INV-CACHE-BOUND, in blocks and in bytes (196608: the sum of the class sizes).
  if (s.cached_blocks > 96 * m.depth || s.cached_bytes > 196608 * m.depth)
    RC_FAIL("INV-CACHE-BOUND: " + std::to_string(s.cached_bytes) + " bytes cached");
  const concalloc::GlobalStats g = concalloc::GetGlobalStats();
  // INV-DEPOT-BOUND: the budget in force, which DEPOT-GROW may have doubled
  // (a thread's eviction, then another's empty take), at most 8 times the
  // budget set.
  if (g.depot_bytes > g.depot_budget)
    RC_FAIL("INV-DEPOT-BOUND: " + std::to_string(g.depot_bytes) + " bytes in the depot");
  if (g.depot_budget < m.depot_budget || g.depot_budget > 8 * m.depot_budget)
    RC_FAIL("DEPOT-GROW: a budget in force of " + std::to_string(g.depot_budget) + " bytes");
  // INV-CONSERVE: taken from the backend = live + cached + in the depot +
  // returned. Other threads have exited, so the calling thread's cache is
  // the only one.
  const long taken = CountingBackend::Taken(), returned = CountingBackend::Returned();
  if (taken != static_cast<long>(m.live.size() + s.cached_blocks + g.depot_blocks) + returned)
    RC_FAIL("INV-CONSERVE: taken " + std::to_string(taken) + " != live " +
            std::to_string(m.live.size()) + " + cached " + std::to_string(s.cached_blocks) +
            " + depot " + std::to_string(g.depot_blocks) + " + returned " +
            std::to_string(returned));
  RC_ASSERT(sut.ptr.size() == m.live.size());
}

// INV-STATS, step by step. The fast paths count only the pops (in the room
// words) and frees_cached is derived, so the counting is checked per
// command: a class-block Alloc on a thread with a cache counts one hit, one
// miss, or both (a miss that a batch from the depot then serves), and leaves
// frees_cached as it was; a Free raises it by at most one. A thread has a cache once any counter is not zero (none in tool mode,
// SAN-DIRECT, where every counter stays zero).
bool HasCache(const concalloc::ThreadStats& s) {
  return s.alloc_hits + s.alloc_misses + s.frees_cached + s.backend_allocs + s.backend_frees +
             s.cached_blocks + s.depot_blocks_in + s.backend_blocks_in !=
         0;
}
void CheckAllocCounted(const concalloc::ThreadStats& before, const concalloc::ThreadStats& after,
                       std::size_t size) {
  if (!HasCache(after)) return;
  const std::uint64_t hits = after.alloc_hits - before.alloc_hits;
  const std::uint64_t misses = after.alloc_misses - before.alloc_misses;
  if (size + concalloc::GetBuildInfo().header_bytes <= 8192 && (hits > 1 || misses > 1 || hits + misses == 0))
    RC_FAIL("INV-STATS: an Alloc of a class block counted " + std::to_string(hits) +
            " hits and " + std::to_string(misses) + " misses");
  if (after.frees_cached != before.frees_cached)
    RC_FAIL("INV-STATS: an Alloc changed frees_cached from " +
            std::to_string(before.frees_cached) + " to " + std::to_string(after.frees_cached));
}
void CheckFreeCounted(const concalloc::ThreadStats& before, const concalloc::ThreadStats& after) {
  if (!HasCache(after)) return;
  if (after.frees_cached - before.frees_cached > 1)
    RC_FAIL("INV-STATS: a Free changed frees_cached from " + std::to_string(before.frees_cached) +
            " to " + std::to_string(after.frees_cached));
}

// A new block must be aligned, big enough, and overlap no live block.
void CheckNewBlock(const Sut& sut, const unsigned char* p, std::size_t size, std::size_t align) {
  RC_ASSERT(p != nullptr);
  const std::size_t want = align > 16 ? align : 16;
  if (reinterpret_cast<std::uintptr_t>(p) % want != 0)
    RC_FAIL("ALIGN-1/ALLOC-1: block not aligned to " + std::to_string(want));
  const std::size_t usable = concalloc::UsableSize(p);
  if (usable < size) RC_FAIL("USABLE-1: usable size below the size asked");
  for (const auto& [id, q] : sut.ptr) {
    const std::size_t qn = concalloc::UsableSize(q);
    if (p < q + qn && q < p + usable) RC_FAIL("ALLOC-5: overlaps live block " + std::to_string(id));
  }
  if (concalloc::GetBuildInfo().checked && size > 0) {  // CHK-FILL
    for (std::size_t k = 0; k < size; ++k)
      if (p[k] != 0xCD) RC_FAIL("CHK-FILL: a new block is not filled with 0xCD");
  }
}

void VerifyContents(const LiveBlock& b, const unsigned char* p) {
  if (b.fill < 0) return;
  for (std::size_t k = 0; k < b.size; ++k)
    if (p[k] != static_cast<unsigned char>(b.fill)) RC_FAIL("ALLOC-5: contents not preserved");
}

rc::Gen<std::size_t> GenSize() {
  // Few sizes often, so lists fill and overflow; every range sometimes.
  return rc::gen::weightedOneOf<std::size_t>({
      {6, rc::gen::elementOf(std::vector<std::size_t>{0, 1, 16, 17, 100, 496, 8176, 8177})},
      {3, rc::gen::inRange<std::size_t>(0, 1024)},
      {2, rc::gen::inRange<std::size_t>(1024, 9000)},
      {1, rc::gen::inRange<std::size_t>(9000, 70000)},
  });
}

// INLINE-1: Alloc and Free run through their inline forms half the time, on
// the same lists, so the model checks both paths and their mixture.
struct AllocCmd : Cmd {
  std::size_t size = *GenSize();
  bool inline_path = *rc::gen::arbitrary<bool>();
  void apply(Model& m) const override { m.live[m.next_id++] = {size, 1, -1}; }
  void run(const Model& m, Sut& sut) const override {
    const concalloc::ThreadStats before = concalloc::GetThreadStats();
    auto* p = static_cast<unsigned char*>(inline_path ? concalloc::InlineAlloc(size)
                                                      : concalloc::Alloc(size));
    CheckAllocCounted(before, concalloc::GetThreadStats(), size);
    CheckNewBlock(sut, p, size, 1);
    sut.ptr[m.next_id] = p;
  }
  void show(std::ostream& os) const override {
    os << (inline_path ? "InlineAlloc(" : "Alloc(") << size << ")";
  }
};

struct AllocAlignedCmd : Cmd {
  std::size_t size = *GenSize();
  std::size_t alignment = std::size_t{1} << *rc::gen::inRange(0, 13);
  void apply(Model& m) const override { m.live[m.next_id++] = {size, alignment, -1}; }
  void run(const Model& m, Sut& sut) const override {
    auto* p = static_cast<unsigned char*>(concalloc::AllocAligned(size, alignment));
    CheckNewBlock(sut, p, size, alignment);
    sut.ptr[m.next_id] = p;
  }
  void show(std::ostream& os) const override {
    os << "AllocAligned(" << size << ", " << alignment << ")";
  }
};

// Picks a live handle of the model, or -1 (then the command is discarded).
int PickLive(const Model& m) {
  if (m.live.empty()) return -1;
  const auto k = *rc::gen::inRange<std::size_t>(0, m.live.size());
  return std::next(m.live.begin(), static_cast<long>(k))->first;
}

struct FreeCmd : Cmd {
  int id;
  bool inline_path = *rc::gen::arbitrary<bool>();
  explicit FreeCmd(const Model& m) : id(PickLive(m)) {}
  void checkPreconditions(const Model& m) const override { RC_PRE(m.live.count(id) == 1u); }
  void apply(Model& m) const override { m.live.erase(id); }
  void run(const Model& m, Sut& sut) const override {
    VerifyContents(m.live.at(id), sut.ptr.at(id));
    const concalloc::ThreadStats before = concalloc::GetThreadStats();
    if (inline_path)
      concalloc::InlineFree(sut.ptr.at(id));
    else
      concalloc::Free(sut.ptr.at(id));
    CheckFreeCounted(before, concalloc::GetThreadStats());
    sut.ptr.erase(id);
  }
  void show(std::ostream& os) const override {
    os << (inline_path ? "InlineFree(#" : "Free(#") << id << ")";
  }
};

struct WriteCmd : Cmd {
  int id;
  int byte = *rc::gen::inRange(0, 256);
  explicit WriteCmd(const Model& m) : id(PickLive(m)) {}
  void checkPreconditions(const Model& m) const override { RC_PRE(m.live.count(id) == 1u); }
  void apply(Model& m) const override { m.live.at(id).fill = byte; }
  void run(const Model& m, Sut& sut) const override {
    std::memset(sut.ptr.at(id), byte, m.live.at(id).size);
  }
  void show(std::ostream& os) const override { os << "Write(#" << id << ", " << byte << ")"; }
};

struct VerifyCmd : Cmd {
  int id;
  explicit VerifyCmd(const Model& m) : id(PickLive(m)) {}
  void checkPreconditions(const Model& m) const override { RC_PRE(m.live.count(id) == 1u); }
  void run(const Model& m, Sut& sut) const override {
    VerifyContents(m.live.at(id), sut.ptr.at(id));
  }
  void show(std::ostream& os) const override { os << "Verify(#" << id << ")"; }
};

// A burst of one size: `count` blocks allocated, then all freed (in the
// order given by `reverse`), the model unchanged. Random frees rarely fill a
// list of depth 4 or more; a burst fills it and overflows it, so that
// DEPOT-SPILL moves batches of several blocks and a later burst refills
// from them (DEPOT-REFILL), each step's counting checked (INV-STATS).
struct BurstCmd : Cmd {
  std::size_t size = *rc::gen::elementOf(std::vector<std::size_t>{1, 17, 100, 496});
  std::size_t count = *rc::gen::inRange<std::size_t>(1, 17);
  bool reverse = *rc::gen::arbitrary<bool>();
  bool inline_path = *rc::gen::arbitrary<bool>();
  void run(const Model&, Sut& sut) const override {
    std::vector<unsigned char*> blocks;
    for (std::size_t k = 0; k < count; ++k) {
      const concalloc::ThreadStats before = concalloc::GetThreadStats();
      auto* p = static_cast<unsigned char*>(inline_path ? concalloc::InlineAlloc(size)
                                                        : concalloc::Alloc(size));
      CheckAllocCounted(before, concalloc::GetThreadStats(), size);
      CheckNewBlock(sut, p, size, 1);
      for (unsigned char* q : blocks)
        if (q == p) RC_FAIL("ALLOC-5: a burst got one block twice");
      blocks.push_back(p);
    }
    if (reverse) std::reverse(blocks.begin(), blocks.end());
    for (unsigned char* p : blocks) {
      const concalloc::ThreadStats before = concalloc::GetThreadStats();
      if (inline_path)
        concalloc::InlineFree(p);
      else
        concalloc::Free(p);
      CheckFreeCounted(before, concalloc::GetThreadStats());
    }
  }
  void show(std::ostream& os) const override {
    os << "Burst(" << count << " x " << size << (reverse ? ", freed newest first" : "")
       << (inline_path ? ", inline" : "") << ")";
  }
};

struct FlushCmd : Cmd {
  void run(const Model&, Sut&) const override {
    concalloc::FlushThreadCache();
    RC_ASSERT(concalloc::GetThreadStats().cached_blocks == 0u);  // FLUSH-1
  }
  void show(std::ostream& os) const override { os << "FlushThreadCache()"; }
};

// Runs one Alloc, AllocAligned or Free on a new thread, which then exits
// (DEPOT-EXIT: its cache goes to the depot or the backend; FREE-2, DEPOT-*:
// blocks cross threads, directly and through the depot).
struct OnNewThreadCmd : Cmd {
  std::shared_ptr<const Cmd> inner;
  explicit OnNewThreadCmd(const Model& m)
      : inner(*rc::state::gen::execOneOfWithArgs<AllocCmd, AllocAlignedCmd, FreeCmd>()(m)) {}
  void checkPreconditions(const Model& m) const override { inner->checkPreconditions(m); }
  void apply(Model& m) const override { inner->apply(m); }
  void run(const Model& m, Sut& sut) const override {
    std::exception_ptr error;
    std::thread([&] {
      try {
        inner->run(m, sut);
        const concalloc::ValidationResult r = concalloc::Validate();
        if (!r) RC_FAIL(std::string(r.clause) + " on the new thread: " + r.reason);
      } catch (...) {
        error = std::current_exception();
      }
    }).join();
    if (error) std::rethrow_exception(error);
  }
  void show(std::ostream& os) const override {
    os << "OnNewThread(";
    inner->show(os);
    os << ")";
  }
};

// Wraps each command so the checks of every step run after it.
template <class C>
struct Checked : C {
  using C::C;
  void run(const Model& m, Sut& sut) const override {
    C::run(m, sut);
    CheckAfterStep(this->nextState(m), sut);
  }
};

RC_GTEST_PROP(Model, AllocatorMatchesTheModel, ()) {
  Model m0;
  m0.depth = *rc::gen::inRange<std::size_t>(0, 7);
  m0.depot_budget = *rc::gen::elementOf(std::vector<std::size_t>{0, 4096, 8 << 20});
  concalloc::test::ScopedDepth depth(m0.depth);
  concalloc::test::ScopedCountingBackend backend;
  concalloc::test::ScopedDepotBudget depot(m0.depot_budget);
  // A program with another thread alive: OnNewThread's exits leave their
  // lists in the depot for this thread to refill from (DEPOT-EXIT); with
  // this thread alone, each exit would empty the depot (DEPOT-QUIET, tested
  // on its own).
  concalloc::test::AnotherLiveCache other;
  Sut sut;
  try {
    rc::state::check(m0, sut,
                     rc::state::gen::execOneOfWithArgs<
                         Checked<AllocCmd>, Checked<AllocAlignedCmd>, Checked<FreeCmd>,
                         Checked<WriteCmd>, Checked<VerifyCmd>, Checked<FlushCmd>,
                         Checked<BurstCmd>, Checked<OnNewThreadCmd>>());
  } catch (...) {
    for (auto& [id, p] : sut.ptr) concalloc::Free(p);
    throw;
  }
  for (auto& [id, p] : sut.ptr) concalloc::Free(p);
  concalloc::Trim();
  // INV-CONSERVE at the end: nothing lost, nothing returned twice.
  if (CountingBackend::Outstanding() != 0)
    RC_FAIL("INV-CONSERVE: " + std::to_string(CountingBackend::Outstanding()) +
            " block(s) not back in the backend at the end");
}

}  // namespace

// TRACE-*: the trace build's event log (trace.h). Compiled in every build;
// empty unless CONCALLOC_TRACE.
#include "modes/trace.h"

#if CONCALLOC_TRACE
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "platform/config.h"
#include "depot/depot.h"
#include "platform/lock.h"
#include "cache/size_classes.h"
#include "cache/thread_cache.h"

namespace concalloc::detail::trace {
namespace {

// The file (TRACE-FORMAT, binary form; spec/trace_tool.py writes the text
// form): a header page, then slot k holds event k.
struct Header {
  char magic[8];                 // "CCTRACE1"
  std::uint32_t classes;         // kNumClasses
  std::uint32_t record_bytes;    // sizeof(BatchRecord): DEPOT-BUDGET counts it
  std::uint64_t capacity;        // slots
  std::atomic<std::uint64_t> overflowed;  // a number past the last slot was taken
  std::uint32_t list_bytes;      // kListBytes: INV-CACHE-BOUND's limit by bytes
  std::uint32_t class_size[kNumClasses];
};
constexpr std::size_t kHeaderBytes = 4096;
static_assert(sizeof(Header) <= kHeaderBytes, "the trace header fits its page");

struct Slot {
  std::uint64_t seq;    // slot k: k + 1 once written (0: a hole)
  std::uint64_t block;  // the block's address (its user pointer), or 0
  std::uint32_t count;  // n
  std::uint32_t extra;  // TRACE-PUT: the budget in force; TRACE-CACHE: the depth
  std::uint16_t thread;
  std::uint8_t kind;
  std::uint8_t cls;
  std::uint8_t shard;
  std::uint8_t flags;   // TRACE-CACHE: 1 when the depot is on
  std::uint16_t pad;
};
static_assert(sizeof(Slot) == 32, "a trace slot is 32 bytes");

std::atomic<int> g_state{0};  // 0 unopened, 1 opening, 2 open, 3 off
Header* g_header = nullptr;
Slot* g_slots = nullptr;
std::atomic<std::uint64_t> g_seq{0};
std::atomic<std::uint32_t> g_threads{0};
pid_t g_pid;  // the traced process: a child of fork() records nothing
Mutex g_order;

void Open() noexcept {
  const char* path = std::getenv("CONCALLOC_TRACE_FILE");
  const std::size_t capacity = ParseSetting(std::getenv("CONCALLOC_TRACE_EVENTS"),
                                            std::size_t{1} << 22, std::size_t{1} << 30);
  int fd = path != nullptr ? ::open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644) : -1;
  // TRACE-BUILD: one process per file. The first to open it holds an
  // exclusive lock for its whole life (the descriptor stays open; exec
  // closes it); any other process that inherits CONCALLOC_TRACE_FILE (one
  // the traced program runs) records nothing, where it used to truncate the
  // file and write its own events over the first's. A child of fork()
  // shares the lock, so TakeSeq stops it by its pid instead.
  if (fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    fd = -1;
  }
  const std::size_t bytes = kHeaderBytes + capacity * sizeof(Slot);
  void* map = MAP_FAILED;
  if (fd >= 0 && ::ftruncate(fd, 0) == 0 && ::ftruncate(fd, static_cast<off_t>(bytes)) == 0)
    map = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (fd >= 0 && map == MAP_FAILED) ::close(fd);
  if (map == MAP_FAILED) {
    g_state.store(3, std::memory_order_release);
    return;
  }
  g_header = static_cast<Header*>(map);
  std::memcpy(g_header->magic, "CCTRACE1", 8);
  g_header->classes = kNumClasses;
  g_header->record_bytes = sizeof(BatchRecord);
  g_header->capacity = capacity;
  g_header->list_bytes = static_cast<std::uint32_t>(kListBytes);
  for (std::size_t c = 0; c < kNumClasses; ++c)
    g_header->class_size[c] = static_cast<std::uint32_t>(kClassSize[c]);
  g_slots = reinterpret_cast<Slot*>(static_cast<char*>(map) + kHeaderBytes);
  g_pid = ::getpid();
  g_state.store(2, std::memory_order_release);
}

bool Ready() noexcept {
  int s = g_state.load(std::memory_order_acquire);
  if (s == 2) return true;
  if (s == 0) {
    int expected = 0;
    if (g_state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
      Open();
      return g_state.load(std::memory_order_acquire) == 2;
    }
  }
  while ((s = g_state.load(std::memory_order_acquire)) == 1) {
  }
  return s == 2;
}

}  // namespace

// The trace is open before a number is taken: a thread that waits for it
// to open holds no number (a process that stops leaves no hole for it).
std::uint64_t TakeSeq() noexcept {
  if (!Ready() || ::getpid() != g_pid) return ~std::uint64_t{0};
  return g_seq.fetch_add(1, std::memory_order_acq_rel);
}

void EmitAt(std::uint64_t seq, Kind kind, std::uint32_t thread, std::uint64_t cls,
            std::uint32_t shard, std::uint64_t count, const void* block,
            std::uint64_t extra) noexcept {
  if (seq == ~std::uint64_t{0}) return;  // no trace file
  if (seq >= g_header->capacity) {
    g_header->overflowed.store(1, std::memory_order_relaxed);
    return;
  }
  Slot& s = g_slots[seq];
  s.block = reinterpret_cast<std::uintptr_t>(block);
  s.count = static_cast<std::uint32_t>(count);
  s.extra = static_cast<std::uint32_t>(extra);
  s.thread = static_cast<std::uint16_t>(thread);
  s.kind = kind;
  s.cls = static_cast<std::uint8_t>(cls);
  s.shard = static_cast<std::uint8_t>(shard);
  s.flags = static_cast<std::uint8_t>(extra >> 32);
  __atomic_store_n(&s.seq, seq + 1, __ATOMIC_RELEASE);
}

void Settle() noexcept {
  if (g_state.load(std::memory_order_acquire) != 2) return;
  std::uint64_t k = 0;
  for (int tries = 0; tries < 1000; ++tries) {
    const std::uint64_t end = g_seq.load(std::memory_order_acquire);
    while (k < end && k < g_header->capacity &&
           __atomic_load_n(&g_slots[k].seq, __ATOMIC_ACQUIRE) != 0)
      ++k;
    if (k >= end || k >= g_header->capacity) return;
    ::usleep(1000);
  }
}

std::uint16_t NewThreadIndex() noexcept {
  return static_cast<std::uint16_t>(g_threads.fetch_add(1, std::memory_order_relaxed));
}

TraceOrdered::TraceOrdered() noexcept { pthread_mutex_lock(&g_order.m); }
TraceOrdered::~TraceOrdered() { pthread_mutex_unlock(&g_order.m); }

}  // namespace concalloc::detail::trace
#endif

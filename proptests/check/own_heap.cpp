// CHECK-ISOLATED: concalloc-check's own C++ objects (its model, RapidCheck's
// state) live in a heap of their own, made with mmap, never in the
// allocator under test: a bad allocator cannot corrupt the checker's state
// (an overlapping block handed out inside one of the checker's own objects
// would), and the checker's allocations do not disturb what it checks.
// Replaces the global operator new and delete of the program.
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>

namespace {

// Power-of-two classes from 16 bytes to 64 KiB, each a free list, carved
// from 1 MiB chunks; larger objects are a mapping of their own. Every
// object has a 16-byte header: its class, or its mapping's size.
constexpr std::size_t kMinShift = 4, kMaxShift = 16, kChunk = std::size_t{1} << 20;
constexpr std::size_t kHeader = 16;

struct FreeNode {
  FreeNode* next;
};

std::mutex& Lock() {
  static std::mutex m;
  return m;
}
FreeNode* g_free[kMaxShift + 1];
char* g_bump = nullptr;
std::size_t g_bump_left = 0;

void* Map(std::size_t n) {
  void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

std::size_t ShiftFor(std::size_t n) {
  std::size_t s = kMinShift;
  while ((std::size_t{1} << s) < n) ++s;
  return s;
}

void* Allocate(std::size_t n) {
  const std::size_t total = n + kHeader;
  if (total > (std::size_t{1} << kMaxShift)) {
    const std::size_t len = (total + 4095) & ~std::size_t{4095};
    auto* p = static_cast<std::size_t*>(Map(len));
    if (p == nullptr) return nullptr;
    p[0] = len;
    p[1] = 0;  // a mapping of its own
    return reinterpret_cast<char*>(p) + kHeader;
  }
  const std::size_t s = ShiftFor(total);
  std::lock_guard<std::mutex> lock(Lock());
  char* block;
  if (FreeNode* f = g_free[s]) {
    g_free[s] = f->next;
    block = reinterpret_cast<char*>(f);
  } else {
    const std::size_t size = std::size_t{1} << s;
    if (g_bump_left < size) {
      g_bump = static_cast<char*>(Map(kChunk));
      if (g_bump == nullptr) return nullptr;
      g_bump_left = kChunk;
    }
    block = g_bump;
    g_bump += size;
    g_bump_left -= size;
  }
  auto* h = reinterpret_cast<std::size_t*>(block);
  h[0] = s;
  h[1] = 1;  // a class block
  return block + kHeader;
}

void Release(void* p) {
  if (p == nullptr) return;
  auto* h = reinterpret_cast<std::size_t*>(static_cast<char*>(p) - kHeader);
  if (h[1] == 0) {
    munmap(h, h[0]);
    return;
  }
  std::lock_guard<std::mutex> lock(Lock());
  auto* f = reinterpret_cast<FreeNode*>(h);
  f->next = g_free[h[0]];
  g_free[h[0]] = f;
}

// Over-aligned objects: a larger block, the object at the alignment, and
// the block's address just below it.
void* AllocateAligned(std::size_t n, std::size_t align) {
  char* raw = static_cast<char*>(Allocate(n + align + sizeof(void*)));
  if (raw == nullptr) return nullptr;
  auto a = (reinterpret_cast<std::uintptr_t>(raw) + sizeof(void*) + align - 1) & ~(align - 1);
  reinterpret_cast<void**>(a)[-1] = raw;
  return reinterpret_cast<void*>(a);
}
void ReleaseAligned(void* p) {
  if (p != nullptr) Release(static_cast<void**>(p)[-1]);
}

void* OrThrow(void* p) {
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace

void* operator new(std::size_t n) { return OrThrow(Allocate(n)); }
void* operator new[](std::size_t n) { return OrThrow(Allocate(n)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return Allocate(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return Allocate(n); }
void operator delete(void* p) noexcept { Release(p); }
void operator delete[](void* p) noexcept { Release(p); }
void operator delete(void* p, std::size_t) noexcept { Release(p); }
void operator delete[](void* p, std::size_t) noexcept { Release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { Release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { Release(p); }
void* operator new(std::size_t n, std::align_val_t a) {
  return OrThrow(AllocateAligned(n, static_cast<std::size_t>(a)));
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return OrThrow(AllocateAligned(n, static_cast<std::size_t>(a)));
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return AllocateAligned(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return AllocateAligned(n, static_cast<std::size_t>(a));
}
void operator delete(void* p, std::align_val_t) noexcept { ReleaseAligned(p); }
void operator delete[](void* p, std::align_val_t) noexcept { ReleaseAligned(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { ReleaseAligned(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { ReleaseAligned(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  ReleaseAligned(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  ReleaseAligned(p);
}

// DEMO-1: the seed's demo, written anew for Linux: reverse a large array in parallel,
// where every swap allocates its temporary through the element type's
// class-level operator new / operator delete. The same work is timed with
// three element types that differ only in where that temporary comes from:
// global new/delete, malloc/free, and concurrency::Alloc/Free (concalloc).
//
// The three variants run in turn, `rounds` times over (interleaved, so that a
// noisy neighbour on a shared machine slows all of them alike), and each
// prints its best time.
//
//   parallel_reverse [--size N] [--repeat R] [--threads T] [--rounds K]
#include <concalloc/concrt.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>
#include <vector>

namespace {

// Keeps the compiler from proving the temporary useless and removing the
// allocation (GCC elides malloc/free pairs it can see through).
template <class T>
void Escape(T* p) {
  asm volatile("" : : "g"(p) : "memory");
}

struct NewDelete {
  static void* operator new(std::size_t n) { return ::operator new(n); }
  static void operator delete(void* p) noexcept { ::operator delete(p); }
  int data;
};

struct MallocFree {
  static void* operator new(std::size_t n) {
    if (void* p = std::malloc(n)) return p;
    throw std::bad_alloc();
  }
  static void operator delete(void* p) noexcept { std::free(p); }
  int data;
};

struct AllocFree {
  static void* operator new(std::size_t n) { return concurrency::Alloc(n); }
  static void operator delete(void* p) noexcept { concurrency::Free(p); }
  int data;
};

// Exchanges a[i] and a[j] through a temporary from T's operator new.
template <class T>
void Swap(T* a, std::size_t i, std::size_t j) {
  T* temp = new T;
  Escape(temp);
  *temp = a[i];
  a[i] = a[j];
  a[j] = *temp;
  delete temp;
}

// Runs body(i) for i in [0, n) on `threads` threads, in contiguous chunks.
template <class Body>
void ParallelFor(std::size_t n, unsigned threads, Body body) {
  std::vector<std::thread> pool;
  const std::size_t chunk = (n + threads - 1) / threads;
  for (unsigned t = 0; t < threads; ++t) {
    const std::size_t begin = std::min(n, t * chunk), end = std::min(n, begin + chunk);
    pool.emplace_back([=] {
      for (std::size_t i = begin; i < end; ++i) body(i);
    });
  }
  for (std::thread& th : pool) th.join();
}

struct Options {
  std::size_t size = 5000000;
  int repeat = 11;
  int rounds = 5;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
};

// Milliseconds to reverse an array of T `repeat` times; checks the result.
template <class T>
long long ReverseArray(const Options& o) {
  std::vector<T> a(o.size);
  for (std::size_t i = 0; i < o.size; ++i) a[i].data = static_cast<int>(i);
  // The swap reads the array's address and length from copies in the
  // lambda, not through references to `a` and `o`: Escape's memory barrier
  // would otherwise make every swap reload both from the main thread's stack.
  T* const data = a.data();
  const std::size_t n = o.size;
  const auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < o.repeat; ++r)
    ParallelFor(n / 2, o.threads, [data, n](std::size_t i) { Swap(data, i, n - i - 1); });
  const auto stop = std::chrono::steady_clock::now();
  // An odd number of reversals leaves the array reversed; an even one, as it was.
  for (std::size_t i = 0; i < o.size; ++i) {
    const std::size_t want = o.repeat % 2 == 1 ? o.size - i - 1 : i;
    if (a[i].data != static_cast<int>(want)) {
      std::fprintf(stderr, "wrong result at %zu\n", i);
      std::exit(1);
    }
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(stop - start).count();
}

bool ParseArgs(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const long long v = std::atoll(argv[i + 1]);
    if (v <= 0) return false;
    if (std::strcmp(argv[i], "--size") == 0) o.size = static_cast<std::size_t>(v);
    else if (std::strcmp(argv[i], "--repeat") == 0) o.repeat = static_cast<int>(v);
    else if (std::strcmp(argv[i], "--threads") == 0) o.threads = static_cast<unsigned>(v);
    else if (std::strcmp(argv[i], "--rounds") == 0) o.rounds = static_cast<int>(v);
    else return false;
  }
  return argc % 2 == 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseArgs(argc, argv, o)) {
    std::fprintf(stderr, "usage: %s [--size N] [--repeat R] [--threads T] [--rounds K]\n",
                 argv[0]);
    return 2;
  }
  std::printf("Reversing %zu elements %d times on %u threads (best of %d rounds).\n", o.size,
              o.repeat, o.threads, o.rounds);
  long long nd = -1, mf = -1, af = -1;
  const auto best = [](long long& b, long long t) { b = b < 0 ? t : std::min(b, t); };
  for (int r = 0; r < o.rounds; ++r) {
    best(nd, ReverseArray<NewDelete>(o));
    best(mf, ReverseArray<MallocFree>(o));
    best(af, ReverseArray<AllocFree>(o));
  }
  std::printf("Took %lld ms with new/delete.\n", nd);
  std::printf("Took %lld ms with malloc/free.\n", mf);
  std::printf("Took %lld ms with Alloc/Free.\n", af);
  const double denom = static_cast<double>(std::max(1LL, af));
  std::printf("Alloc/Free is %.2fx as fast as new/delete and %.2fx as fast as malloc/free.\n",
              static_cast<double>(nd) / denom, static_cast<double>(mf) / denom);
  return 0;
}

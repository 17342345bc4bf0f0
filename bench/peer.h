// The allocator under test, chosen at compile time by BENCH_PEER (one
// executable per peer, so that peers which replace malloc when linked,
// jemalloc and tcmalloc, run in their own process).
#ifndef CONCALLOC_BENCH_PEER_H
#define CONCALLOC_BENCH_PEER_H

#include <cstddef>
#include <cstdlib>

#define PEER_CONCALLOC 1
#define PEER_GLIBC 2
#define PEER_MIMALLOC 3
#define PEER_JEMALLOC 4
#define PEER_TCMALLOC 5
#define PEER_TBB 6
#define PEER_CONCALLOC_CALL 7

#if BENCH_PEER == PEER_CONCALLOC
// What concurrency::Alloc/Free, class-level new and Allocator<T> use: the
// hit path inline in the caller (INLINE-1).
#include <concalloc/concalloc.h>
inline void* PeerAlloc(std::size_t n) { return concalloc::InlineAlloc(n); }
inline void PeerFree(void* p) { concalloc::InlineFree(p); }
#elif BENCH_PEER == PEER_CONCALLOC_CALL
// The exported functions, always a call, like every peer's entry points.
#include <concalloc/concalloc.h>
inline void* PeerAlloc(std::size_t n) { return concalloc::Alloc(n); }
inline void PeerFree(void* p) { concalloc::Free(p); }
#elif BENCH_PEER == PEER_MIMALLOC
#include <mimalloc.h>
inline void* PeerAlloc(std::size_t n) { return mi_malloc(n); }
inline void PeerFree(void* p) { mi_free(p); }
#elif BENCH_PEER == PEER_TBB
#include <tbb/scalable_allocator.h>
inline void* PeerAlloc(std::size_t n) { return scalable_malloc(n); }
inline void PeerFree(void* p) { scalable_free(p); }
#else  // glibc, and jemalloc / tcmalloc, which replace malloc when linked
inline void* PeerAlloc(std::size_t n) { return std::malloc(n); }
inline void PeerFree(void* p) { std::free(p); }
#endif

// Keeps the compiler from removing an allocation it can see through.
template <class T>
inline void Escape(T* p) {
  asm volatile("" : : "g"(p) : "memory");
}

#endif

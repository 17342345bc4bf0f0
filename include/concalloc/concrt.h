// CONCRT-1: the Concurrency Runtime's memory functions with their original
// signatures, so code written against ConcRT compiles unchanged on Linux.
// They are concalloc::InlineAlloc/InlineFree (INLINE-1): the hit path is
// compiled into the caller.
//   void* concurrency::Alloc(size_t numBytes);  // throws std::bad_alloc
//   void  concurrency::Free(void* p);           // Free(NULL) does nothing
#ifndef CONCALLOC_CONCRT_H
#define CONCALLOC_CONCRT_H

#include <cstddef>

#include <concalloc/concalloc.h>

namespace concurrency {
inline void* Alloc(std::size_t numBytes) { return ::concalloc::InlineAlloc(numBytes); }
inline void Free(void* pAllocation) { ::concalloc::InlineFree(pAllocation); }
}  // namespace concurrency

// ConcRT code often spells the namespace Concurrency.
namespace Concurrency = concurrency;

#endif  // CONCALLOC_CONCRT_H

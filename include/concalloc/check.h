/* concalloc-check's table (CHECK-TABLE in spec/SPEC.md): how a shared
 * object offers a ConcRT-style Alloc/Free pair to
 *   concalloc-check concrt LIB
 * LIB exports one object, `concalloc_check_table` (C linkage), of this
 * type. Required: version (CONCALLOC_CHECK_TABLE_VERSION), alloc and free;
 * the other members may be NULL, and the checks that need them are then
 * left out (the checker says which).
 *   alloc(n)               a block of at least n bytes, aligned to 16, or
 *                          NULL (errno = ENOMEM) when it cannot; never throws
 *   free(p)                takes back a block from alloc or alloc_aligned,
 *                          from any thread; free(NULL) does nothing
 *   usable_size(p)         the bytes of p that may be used, at least the
 *                          request (optional)
 *   alloc_aligned(n, a)    a block aligned to a, a power of two (optional)
 *   flush()                gives the calling thread's cached blocks back
 *                          (optional)
 * libconcalloc exports one for its own C API. */
#ifndef CONCALLOC_CHECK_H
#define CONCALLOC_CHECK_H

#include <stddef.h>

#define CONCALLOC_CHECK_TABLE_VERSION 1u

#ifdef __cplusplus
extern "C" {
#endif

struct concalloc_check_table {
  unsigned version;
  void* (*alloc)(size_t size);
  void (*free)(void* p);
  size_t (*usable_size)(const void* p);
  void* (*alloc_aligned)(size_t size, size_t alignment);
  void (*flush)(void);
};

#ifdef __cplusplus
}
#endif

#endif

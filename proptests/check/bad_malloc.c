/* MUT-1 for concalloc-check (CHECK-MUTANTS): small malloc replacements,
 * each with one seeded bug, built from this file with one -DBAD_<NAME> and
 * preloaded into `concalloc-check malloc`, which must reject each, naming
 * the rule it breaks. Everything else passes through to glibc's allocator.
 *   BAD_OVERLAP        a block of 5, 13, 21 or 29 bytes inside the last small one
 *   BAD_MISALIGNED     blocks of 40 to 48 bytes 8 bytes off the alignment
 *   BAD_CALLOC         calloc does not zero (reused memory keeps its bytes)
 *   BAD_USABLE         malloc_usable_size says 64 bytes more than there are
 *   BAD_REALLOC        realloc copies only the first half of the contents
 *   BAD_REMOTE_FREE    a free on another thread than the block's is dropped
 *   BAD_STALE          once in 100 small mallocs, the last small block (still
 *                      live) is handed out again: a bug that depends on a
 *                      counter outside the generated sequence, so RapidCheck's
 *                      rerun of the shrunk case may pass (CHECK-REPORT)
 *   BAD_STALE_RARE     the same once in 300 small mallocs: too rare for
 *                      CHECK-SEQ's short sequences at the default case count
 *                      (CHECK-CHURN)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

extern void* __libc_malloc(size_t);
extern void __libc_free(void*);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);

#define EXPORT __attribute__((visibility("default")))

static size_t RealUsable(void* p) {
  static size_t (*fn)(void*);
  if (fn == NULL) fn = (size_t (*)(void*))dlsym(RTLD_NEXT, "malloc_usable_size");
  return fn(p);
}

#if defined(BAD_REMOTE_FREE)
/* Which thread made each block, in a table of its own (open addressing,
 * under one lock); a block freed on another thread stays where it is. */
#define SLOTS (1u << 20)
static struct {
  void* p;
  pthread_t owner;
} table[SLOTS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t Slot(void* p) { return ((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull >> 44; }
static void Record(void* p) {
  if (p == NULL) return;
  pthread_mutex_lock(&table_lock);
  size_t i = Slot(p);
  while (table[i].p != NULL && table[i].p != (void*)1 && table[i].p != p) i = (i + 1) % SLOTS;
  table[i].p = p;
  table[i].owner = pthread_self();
  pthread_mutex_unlock(&table_lock);
}
/* 1: free it; 0: another thread's block: dropped (the seeded bug). */
static int Forget(void* p) {
  int mine = 1;
  pthread_mutex_lock(&table_lock);
  for (size_t i = Slot(p); table[i].p != NULL; i = (i + 1) % SLOTS) {
    if (table[i].p == p) {
      mine = pthread_equal(table[i].owner, pthread_self());
      if (mine) table[i].p = (void*)1; /* a tombstone */
      break;
    }
  }
  pthread_mutex_unlock(&table_lock);
  return mine;
}
EXPORT void* malloc(size_t n) {
  void* p = __libc_malloc(n);
  Record(p);
  return p;
}
EXPORT void free(void* p) {
  if (p == NULL || !Forget(p)) return;
  int saved = errno;
  __libc_free(p);
  errno = saved;
}
EXPORT void* calloc(size_t n, size_t s) {
  void* p = __libc_calloc(n, s);
  Record(p);
  return p;
}
EXPORT size_t malloc_usable_size(void* p) { return p == NULL ? 0 : RealUsable(p); }
EXPORT void* realloc(void* p, size_t n) {
  if (p != NULL && !Forget(p)) { /* another thread's: a new block, the old one kept */
    void* q = malloc(n);
    if (q != NULL) memcpy(q, p, RealUsable(p) < n ? RealUsable(p) : n);
    return q;
  }
  void* q = __libc_realloc(p, n);
  if (q == NULL && p != NULL && n != 0) Record(p); /* it failed: p is still there */
  Record(q);
  return q;
}
EXPORT void* memalign(size_t a, size_t n) {
  void* p = __libc_memalign(a, n);
  Record(p);
  return p;
}
EXPORT void* aligned_alloc(size_t a, size_t n) { return memalign(a, n); }
EXPORT int posix_memalign(void** out, size_t a, size_t n) {
  if (a < sizeof(void*) || (a & (a - 1)) != 0) return EINVAL;
  int saved = errno;
  void* p = memalign(a, n);
  if (p == NULL) return ENOMEM;
  errno = saved;
  *out = p;
  return 0;
}
EXPORT void* valloc(size_t n) { return memalign(4096, n); }
EXPORT void* pvalloc(size_t n) { return memalign(4096, (n + 4095) & ~(size_t)4095); }
EXPORT void* reallocarray(void* p, size_t n, size_t s) {
  if (s != 0 && n > SIZE_MAX / s) { errno = ENOMEM; return NULL; }
  return realloc(p, n * s);
}

#else /* the others: glibc's blocks, one function changed */

#if defined(BAD_OVERLAP)
/* A request of 5, 13, 21 or 29 bytes is put 16 bytes into the last small
 * block (48 bytes or less) when that one is still live and has room; such
 * a block is never given to glibc. The bug depends on the calls alone, not
 * on how many were made before: a failing sequence fails again when it is
 * rerun, as RapidCheck does to print the rule it breaks. */
static __thread char* last_small;
static int Overlaps(size_t n) { return n <= 29 && n % 8 == 5; }
/* Every fake block ever made (the checker makes a few hundred), so that no
 * thread gives one to glibc. */
#define MAX_FAKES 65536
static char* fakes[MAX_FAKES];
static size_t fake_usable[MAX_FAKES]; /* its host's room past it: no usable-size bug too */
static unsigned nfakes;
/* 1 + its index among the fakes, or 0. */
static unsigned FakeIndex(void* p) {
  unsigned n = __atomic_load_n(&nfakes, __ATOMIC_ACQUIRE);
  for (unsigned i = 0; i < n && i < MAX_FAKES; ++i)
    if (__atomic_load_n(&fakes[i], __ATOMIC_RELAXED) == p) return i + 1;
  return 0;
}
#endif

#if defined(BAD_STALE_RARE)
#define BAD_STALE
#define STALE_EVERY 300
#endif
#if defined(BAD_STALE) && !defined(STALE_EVERY)
#define STALE_EVERY 100
#endif

#if defined(BAD_STALE)
/* The blocks handed out twice, each with how many frees to ignore (its
 * extra owners), so that no block is given to glibc twice. */
#define MAX_STALE 4096
static struct {
  void* p;
  unsigned extra;
} stale[MAX_STALE];
static pthread_mutex_t stale_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread char* last_small;
static unsigned small_calls;
static void* HandOutAgain(void* p) {
  pthread_mutex_lock(&stale_lock);
  for (unsigned i = 0; i < MAX_STALE; ++i) {
    if (stale[i].p == p || stale[i].p == NULL) {
      stale[i].p = p;
      stale[i].extra += 1;
      pthread_mutex_unlock(&stale_lock);
      return p;
    }
  }
  pthread_mutex_unlock(&stale_lock);
  return NULL; /* table full: no bug this time */
}
/* 1: an extra owner's free, to ignore. */
static int ExtraOwner(void* p) {
  int extra = 0;
  pthread_mutex_lock(&stale_lock);
  for (unsigned i = 0; i < MAX_STALE && stale[i].p != NULL; ++i) {
    if (stale[i].p == p && stale[i].extra > 0) {
      stale[i].extra -= 1;
      extra = 1;
      break;
    }
  }
  pthread_mutex_unlock(&stale_lock);
  return extra;
}
#endif

EXPORT void* malloc(size_t n) {
#if defined(BAD_STALE)
  if (n <= 48) {
    unsigned k = __atomic_add_fetch(&small_calls, 1, __ATOMIC_RELAXED);
    if (k % STALE_EVERY == 0 && last_small != NULL && RealUsable(last_small) >= n) {
      void* again = HandOutAgain(last_small);
      if (again != NULL) return again;
    }
    void* p = __libc_malloc(n);
    last_small = p;
    return p;
  }
  return __libc_malloc(n);
#elif defined(BAD_OVERLAP)
  /* (The fake fits inside its host block, so writing it harms no glibc
   * chunk: only the host's contents.) */
  if (Overlaps(n) && last_small != NULL && nfakes < MAX_FAKES &&
      RealUsable(last_small) >= n + 16) {
    char* p = last_small + 16;
    unsigned i = __atomic_fetch_add(&nfakes, 1, __ATOMIC_ACQ_REL);
    if (i < MAX_FAKES) {
      fake_usable[i] = RealUsable(last_small) - 16;
      __atomic_store_n(&fakes[i], p, __ATOMIC_RELEASE);
    }
    return p;
  }
  void* p = __libc_malloc(n);
  if (n <= 48) last_small = p;
  return p;
#elif defined(BAD_MISALIGNED)
  if (n >= 40 && n <= 48) {
    char* p = __libc_malloc(n + 16);
    return p == NULL ? NULL : p + 8;
  }
  return __libc_malloc(n);
#else
  return __libc_malloc(n);
#endif
}

/* What free and friends give glibc for p. */
static void* GlibcBlock(void* p) {
#if defined(BAD_MISALIGNED)
  if (((uintptr_t)p & 15) == 8) return (char*)p - 8;
#endif
  return p;
}

EXPORT void free(void* p) {
#if defined(BAD_OVERLAP)
  if (FakeIndex(p) != 0) return;
  if (p == last_small) last_small = NULL;
#elif defined(BAD_STALE)
  if (p == last_small) last_small = NULL;
  if (p != NULL && ExtraOwner(p)) return;
#endif
  int saved = errno;
  __libc_free(GlibcBlock(p));
  errno = saved;
}

EXPORT size_t malloc_usable_size(void* p) {
  if (p == NULL) return 0;
#if defined(BAD_OVERLAP)
  unsigned fake = FakeIndex(p);
  if (fake != 0) return fake_usable[fake - 1];
#endif
#if defined(BAD_USABLE)
  return RealUsable(p) + 64;
#else
  return RealUsable(GlibcBlock(p)) - (size_t)((char*)p - (char*)GlibcBlock(p));
#endif
}

EXPORT void* calloc(size_t n, size_t s) {
#if defined(BAD_CALLOC)
  if (s != 0 && n > SIZE_MAX / s) { errno = ENOMEM; return NULL; }
  return __libc_malloc(n * s); /* not zeroed: reused memory keeps its bytes */
#else
  return __libc_calloc(n, s);
#endif
}

EXPORT void* realloc(void* p, size_t n) {
#if defined(BAD_OVERLAP) || defined(BAD_MISALIGNED) || defined(BAD_REALLOC) || defined(BAD_STALE)
  if (p == NULL) return malloc(n);
  if (n > SIZE_MAX - 64) { errno = ENOMEM; return NULL; }
#if defined(BAD_OVERLAP) || defined(BAD_STALE)
  /* p is freed below: a new block inside it would be a use after free,
   * not the overlap of two live blocks that this shim stands for. */
  if (p == last_small) last_small = NULL;
#endif
  void* q = malloc(n);
  if (q == NULL) return NULL;
  size_t old = malloc_usable_size(p);
  size_t keep = old < n ? old : n;
#if defined(BAD_REALLOC)
  keep /= 2; /* the tail is lost, and holds no old bytes that could pass for it */
  memset(q, 0xA5, n);
#endif
  memcpy(q, p, keep);
  free(p);
  return q;
#else
  return __libc_realloc(p, n);
#endif
}

EXPORT void* memalign(size_t a, size_t n) { return __libc_memalign(a, n); }
EXPORT void* aligned_alloc(size_t a, size_t n) { return __libc_memalign(a, n); }
EXPORT int posix_memalign(void** out, size_t a, size_t n) {
  if (a < sizeof(void*) || (a & (a - 1)) != 0) return EINVAL;
  int saved = errno;
  void* p = __libc_memalign(a, n);
  if (p == NULL) return ENOMEM;
  errno = saved;
  *out = p;
  return 0;
}
EXPORT void* valloc(size_t n) { return __libc_memalign(4096, n); }
EXPORT void* pvalloc(size_t n) { return __libc_memalign(4096, (n + 4095) & ~(size_t)4095); }
EXPORT void* reallocarray(void* p, size_t n, size_t s) {
  if (s != 0 && n > SIZE_MAX / s) { errno = ENOMEM; return NULL; }
  return realloc(p, n * s);
}
#endif

/*
 * trace_check.h: the C side of the trace checker (spec/trace.pml), included
 * into Spin's pan.c. It loads the events that spec/trace_tool.py prepared
 * (events.txt: one event per line, blocks, threads and classes renamed to
 * small indices) and prints the verdict: every event replayed, or the first
 * one that the model's steps reject, with its clause and the state that
 * made it impossible. Macros, because only code expanded inside a c_code
 * statement sees Spin's state vector (`now`).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  int k, t, c, q, n, b;
  long long x, seq;
} TraceEvent;

static TraceEvent* trace_ev;
static int trace_nev;
static unsigned long long* trace_addr; /* block index -> its address */
static int trace_nblocks;
static int trace_csize[NC]; /* NC from trace_tool.py prepare: up to the 96 classes */
static int trace_loaded;
static int trace_rejected;
static const char* trace_kind_name[] = {"HOLE", "CACHE", "POP", "PUSH", "FILL", "NEW",
                                        "BACK", "FLUSH", "SPILL", "DRAIN", "PUT", "EVICT",
                                        "REFUSE", "TAKE", "REFILL", "TRIM", "EXIT", "STASH",
                                        "UNSTASH", "CREDIT", "SPAN"};

static void trace_load(void) {
  FILE* f;
  int i;
  if (trace_loaded) return;
  trace_loaded = 1;
  f = fopen("events.txt", "r");
  if (f == NULL || fscanf(f, "%d %d", &trace_nev, &trace_nblocks) != 2) {
    fprintf(stderr, "trace-check: cannot read events.txt\n");
    exit(2);
  }
  for (i = 0; i < NC; i++) {
    if (fscanf(f, "%d", &trace_csize[i]) != 1) exit(2);
  }
  trace_addr = (unsigned long long*)calloc(trace_nblocks + 1, sizeof *trace_addr);
  for (i = 0; i < trace_nblocks; i++) {
    if (fscanf(f, "%llx", &trace_addr[i]) != 1) exit(2);
  }
  trace_ev = (TraceEvent*)calloc(trace_nev + 1, sizeof *trace_ev);
  for (i = 0; i < trace_nev; i++) {
    TraceEvent* e = &trace_ev[i];
    if (fscanf(f, "%lld %d %d %d %d %d %d %lld", &e->seq, &e->k, &e->t, &e->c, &e->q, &e->n,
               &e->b, &e->x) != 8) {
      fprintf(stderr, "trace-check: events.txt is short\n");
      exit(2);
    }
  }
  fclose(f);
}

static unsigned long long trace_block_addr(int b) {
  return b >= 0 && b < trace_nblocks ? trace_addr[b] : 0;
}

/* Where block b is, in words (the state the event met). */
#define TRACE_WHERE(b0)                                                                   \
  do {                                                                                    \
    int w_t, w_c, w_i, w_q, w_s, w_found = 0;                                             \
    if ((b0) < 0 || (b0) >= NB) { printf("  block: none\n"); break; }                     \
    if (now.inbackend[b0]) { printf("  block 0x%llx: in the backend\n", trace_block_addr(b0)); w_found++; } \
    if (now.owner[b0]) { printf("  block 0x%llx: live (allocated by thread %d)\n", trace_block_addr(b0), now.owner[b0] - 1); w_found++; } \
    for (w_t = 0; w_t < NT; w_t++)                                                         \
      for (w_c = 0; w_c < NC; w_c++)                                                       \
        for (w_i = 0; w_i < now.top[w_t * NC + w_c]; w_i++)                                \
          if (now.list[(w_t * NC + w_c) * (LDEPTH + 1) + w_i] == (b0)) {                   \
            printf("  block 0x%llx: on list (thread %d, class %d), %d below its top\n",    \
                   trace_block_addr(b0), w_t, w_c, now.top[w_t * NC + w_c] - 1 - w_i);    \
            w_found++;                                                                     \
          }                                                                                \
    for (w_t = 0; w_t < NT; w_t++)                                                         \
      for (w_c = 0; w_c < NC; w_c++)                                                       \
        for (w_i = 0; w_i < now.scnt[w_t * NC + w_c]; w_i++)                               \
          if (now.spare[(w_t * NC + w_c) * SCAP + w_i] == (b0)) {                          \
            printf("  block 0x%llx: in the spare (thread %d, class %d), %d from its first\n", \
                   trace_block_addr(b0), w_t, w_c, w_i);                                   \
            w_found++;                                                                     \
          }                                                                                \
    for (w_t = 0; w_t < NT; w_t++)                                                         \
      for (w_i = 0; w_i < now.hcnt[w_t]; w_i++)                                            \
        if (now.hand[w_t * HCAP + w_i] == (b0)) {                                          \
          printf("  block 0x%llx: in thread %d's hand (a batch on its way)\n",             \
                 trace_block_addr(b0), w_t);                                               \
          w_found++;                                                                       \
        }                                                                                  \
    for (w_q = 0; w_q < NQ; w_q++)                                                         \
      for (w_s = 0; w_s < now.nbatch[w_q]; w_s++)                                          \
        for (w_i = 0; w_i < now.dcnt[w_q * SLOTS + w_s]; w_i++)                            \
          if (now.dblk[(w_q * SLOTS + w_s) * BMAX + w_i] == (b0)) {                        \
            printf("  block 0x%llx: in the depot, shard %d of class %d, batch %d of %d "   \
                   "(0: the oldest)\n", trace_block_addr(b0), w_q % NSH, w_q / NSH, w_s,   \
                   now.nbatch[w_q]);                                                       \
            w_found++;                                                                     \
          }                                                                                \
    if (!w_found) printf("  block 0x%llx: nowhere\n", trace_block_addr(b0));              \
  } while (0)

/* The first event the model rejects: its number, its clause, the state. */
#define TRACE_REJECT(clause)                                                              \
  do {                                                                                    \
    const TraceEvent* r_e = &trace_ev[now.ev];                                            \
    int r_i;                                                                              \
    char r_clause[64];                                                                    \
    if (trace_rejected++) break;                                                          \
    for (r_i = 0; r_i < 63 && (clause)[r_i]; r_i++)                                       \
      r_clause[r_i] = (clause)[r_i] == '_' ? '-' : (clause)[r_i];                         \
    r_clause[r_i] = 0;                                                                    \
    printf("trace-check: REJECTED event %lld (%s thread %d class %d shard %d n %d block "  \
           "0x%llx x %lld): breaks %s\n", r_e->seq, trace_kind_name[r_e->k], r_e->t,      \
           r_e->c, r_e->q % NSH, r_e->n, trace_block_addr(r_e->b), r_e->x, r_clause);      \
    printf("state before it:\n");                                                         \
    if (r_e->t < NT && r_e->c < NC) {                                                     \
      printf("  list (thread %d, class %d): %d of %d, top first:", r_e->t, r_e->c,        \
             now.top[r_e->t * NC + r_e->c], now.lim[r_e->t * NC + r_e->c]);               \
      for (r_i = now.top[r_e->t * NC + r_e->c] - 1; r_i >= 0; r_i--)                      \
        printf(" 0x%llx", trace_block_addr(now.list[(r_e->t * NC + r_e->c) * (LDEPTH + 1) + r_i])); \
      printf("\n  spare (thread %d, class %d): %d of %d\n", r_e->t, r_e->c,                 \
             now.scnt[r_e->t * NC + r_e->c], now.slim[r_e->t * NC + r_e->c]);             \
      printf("  thread %d's hand: %d blocks\n", r_e->t, now.hcnt[r_e->t]);                \
    }                                                                                     \
    if (r_e->q < NQ)                                                                      \
      printf("  shard %d of class %d: %d batches; the depot holds %d bytes\n",            \
             r_e->q % NSH, r_e->q / NSH, now.nbatch[r_e->q], now.dunits);                 \
    TRACE_WHERE(r_e->b);                                                                  \
  } while (0)

/* Loads event now.ev into the state's event fields. */
#define TRACE_NEXT()                                                                      \
  do {                                                                                    \
    const TraceEvent* n_e;                                                                \
    trace_load();                                                                         \
    n_e = &trace_ev[now.ev];                                                              \
    now.kind = n_e->k; now.t = n_e->t; now.c = n_e->c; now.q = n_e->q;                   \
    now.n = n_e->n; now.b = n_e->b; now.x = (int)n_e->x;                                  \
  } while (0)

#define TRACE_INIT()                                                                      \
  do {                                                                                    \
    int i_i;                                                                              \
    trace_load();                                                                         \
    for (i_i = 0; i_i < NC; i_i++) now.csize[i_i] = trace_csize[i_i];                     \
  } while (0)

#define TRACE_ACCEPT()                                                                    \
  do {                                                                                    \
    if (!trace_rejected)                                                                  \
      printf("trace-check: ACCEPTED: all %d events are steps of the model\n", trace_nev); \
  } while (0)

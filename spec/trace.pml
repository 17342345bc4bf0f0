/*
 * trace.pml: the trace checker (spec/SPEC.md section 17). Replays a trace of
 * the C++ code, event by event, through the steps of spec/steps.pml, the
 * ones the exhaustive model (depot.pml) is made of: the trace is a behaviour
 * of the model when every step's CHECKs hold. One deterministic path; Spin
 * explores it as a search with one choice per state.
 *
 * Run by spec/trace-check, which prepares the events (spec/trace_tool.py
 * prepare: events.txt, and the sizes below as -D flags) and then, in a
 * temporary folder:
 *   spin $DEFS -a trace.pml
 *   cc -O1 $DEFS -DSAFETY -DNOCLAIM -DBITSTATE -DVECTORSZ=... -o pan pan.c
 *   ./pan -m<depth> -w26
 * Bitstate is sound here: there is one path, and the state holds the event
 * index, so no two states of it are alike; TRACE_ACCEPT prints only when the
 * last event was replayed.
 *
 * TRACE-SCOPE: what an accepted trace shows is that this run is a run of
 * the model. Not checked here: block contents, large and aligned blocks
 * (never traced), what the heap does with a block after its event gave it
 * back (but a span reported empty, SPAN, must have no block out:
 * INV-SPAN), and runs that were not traced (depot.pml covers all runs,
 * within its bounds).
 *
 * Sizes (from the trace): NT threads (caches live at once, plus one for the
 * threads with no cache), NC classes, NB blocks, LDEPTH the longest list
 * limit, BMAX the longest batch, SLOTS the most batches one shard held, SCAP
 * the longest spare, NEV events; LISTBYTES (kListBytes) and RECORD
 * (sizeof(BatchRecord)).
 */

#define NSH 4                            /* kDepotShards */
#ifndef CHUNK                             /* trace_tool.py: more for long traces */
#define CHUNK 1024
#endif
#define NQ (NC * NSH)
#define HCAP BMAX
#ifndef BLK                               /* trace_tool.py: int past 32,000 blocks */
#define BLK short
#define NONE 32767
#endif
#define LIMIT(t, c) lim[(t) * NC + (c)]
#define SLIMIT(t, c) slim[(t) * NC + (c)]
#define XFERBYTES 32768                   /* kXferBytes */
#define MAXXFER 256                       /* kMaxXferBlocks */
#define UNITS(c, n) ((n) * csize[c] + RECORD)   /* BatchBytes */
#define EVICT_GHOST_MOVE(q0, i0) skip
#define EVICT_GHOST_CLEAR(q0) skip
#define PUT_GHOST(q0) skip
#define CHECK(cond, CLAUSE) \
  if :: (cond) -> skip :: else -> c_code { TRACE_REJECT(#CLAUSE); }; assert((cond) || CLAUSE) fi

c_decl { \#include "trace_check.h" }

BLK list[NT * NC * (LDEPTH + 1)];
byte top[NT * NC];
byte lim[NT * NC];
short slim[NT * NC];
BLK spare[NT * NC * SCAP];
short scnt[NT * NC];
BLK dblk[NQ * SLOTS * BMAX];
short dcnt[NQ * SLOTS];
short nbatch[NQ];
int dunits;                               /* the batches' bytes, summed */
int share[NQ];                            /* DEPOT-CREDIT: each shard's part of g_depot_bytes */
BLK hand[NT * HCAP];
short hcnt[NT];
byte owner[NB];
bool inbackend[NB];
short csize[NC];
/* The event being replayed: its index, and its fields (trace_check.h). */
int ev;
byte kind, t, c;
short q;
int n;
BLK b;
int x;

/* Always 0: a failed assert(x || CLAUSE) names the clause. */
bit INV_OWNERSHIP, INV_CONSERVE, INV_CACHE_BOUND, INV_DEPOT_BOUND, DEPOT_EVICT, DEPOT_SPILL,
    MODEL_CAPACITY, CACHE_2, FLUSH_1, TRACE_FORMAT, INV_SPAN;

#include "steps.pml"

/* TRACE-EVENTS: the event kinds (src/modes/trace.h), each replayed below by its
 * step of steps.pml. */
#define K_CACHE 1
#define K_POP 2
#define K_PUSH 3
#define K_FILL 4
#define K_NEW 5
#define K_BACK 6
#define K_FLUSH 7
#define K_SPILL 8
#define K_DRAIN 9
#define K_PUT 10
#define K_EVICT 11
#define K_REFUSE 12
#define K_TAKE 13
#define K_REFILL 14
#define K_TRIM 15
#define K_EXIT 16
#define K_STASH 17
#define K_UNSTASH 18
#define K_CREDIT 19
#define K_SPAN 20

/* The batch of queue q whose head is b: s (nbatch[q] when none). */
inline find_batch() {
  s = 0;
  do
  :: s < nbatch[q] && dblk[SLOT(q, s)] != b -> s++
  :: else -> break
  od
}

init {
  int i, j, k, s;
  d_step {
    c_code { TRACE_INIT(); };
    for (i : 0 .. NB - 1) { inbackend[i] = 1 }
    i = 0
  };
  /* CHUNK events per atomic step: Spin keeps a copy of the state for each
   * step of the path (a d_step cannot be undone otherwise), so fewer,
   * longer steps keep the checker's memory small (at most 32 steps: a long
   * trace's state, with many batches in the depot, is megabytes). */
  do
  :: ev < NEV ->
     d_step {
       k = 0;
       do
       :: ev < NEV && k < CHUNK ->
           c_code { TRACE_NEXT(); };
           if
           :: kind == K_CACHE ->            /* CONF-DEPTH, INV-CACHE-BOUND: ResetBins */
              /* ListLimit: depth, or with the depot min(depth, max(2, kListBytes / size)) */
              for (i : 0 .. NC - 1) {
                CHECK(top[t * NC + i] == 0 && scnt[t * NC + i] == 0, FLUSH_1);
                j = (LISTBYTES / csize[i] > 2 -> LISTBYTES / csize[i] : 2);
                lim[t * NC + i] = (n == 0 -> x : (j < x -> j : x));
                /* SpareLimit: XferMax + SpillCount - 1, XferMax =
                 * max(SpillCount, min(MAXXFER, XFERBYTES / size)) */
                s = (lim[t * NC + i] / 2 > 0 -> lim[t * NC + i] / 2 : 1);
                j = (XFERBYTES / csize[i] < MAXXFER -> XFERBYTES / csize[i] : MAXXFER);
                slim[t * NC + i] = (j > s -> j : s) + s - 1
              }
           :: kind == K_POP -> cache_pop(t, c, b)
           :: kind == K_PUSH -> cache_push(t, c, b)
           :: kind == K_FILL -> cache_fill(t, c, b)
           :: kind == K_NEW -> backend_new(t, b)
           :: kind == K_BACK -> live_to_backend(b)
           :: kind == K_FLUSH -> cache_flush(t, c, n)
           :: kind == K_SPILL ->            /* DEPOT-SPILL: a full list, half of it */
              CHECK(top[t * NC + c] == lim[t * NC + c] &&
                    n == (lim[t * NC + c] / 2 > 0 -> lim[t * NC + c] / 2 : 1), DEPOT_SPILL);
              CHECK(list[LIST(t, c) + top[t * NC + c] - 1] == b, INV_OWNERSHIP);
              list_to_hand(t, c, n)
           :: kind == K_DRAIN ->            /* DEPOT-EXIT: the whole list */
              CHECK(n == top[t * NC + c], INV_CONSERVE);
              CHECK(n > 0 && list[LIST(t, c) + top[t * NC + c] - 1] == b, INV_OWNERSHIP);
              list_to_hand(t, c, n)
           :: kind == K_PUT -> depot_put(t, q, n, b, x)
           :: kind == K_EVICT || kind == K_TRIM ->
              find_batch();
              depot_evict(q, s, n, b)
           :: kind == K_REFUSE -> hand_to_backend(t, n)
           :: kind == K_TAKE -> depot_take(t, q, n, b)
           :: kind == K_REFILL ->
              CHECK(hcnt[t] > 0 && hand[t * HCAP] == b, INV_OWNERSHIP);
              hand_to_list(t, c, n)
           :: kind == K_EXIT -> cache_exit(t)
           :: kind == K_STASH ->            /* DEPOT-XFER: the hand onto the spare */
              CHECK(hcnt[t] > 0 && hand[t * HCAP] == b, INV_OWNERSHIP);
              hand_to_spare(t, c, n)
           :: kind == K_UNSTASH ->          /* DEPOT-XFER: the spare's first n to the hand */
              CHECK(scnt[t * NC + c] > 0 && spare[SP(t, c)] == b, INV_OWNERSHIP);
              spare_to_hand(t, c, n)
           :: kind == K_CREDIT ->           /* DEPOT-CREDIT: the end of a shard's section */
              /* INV-DEPOT-BOUND: the shard's part of the reservation, moved
               * by what the section reserved and gave back, is its batches'
               * bytes and its credit */
              share[q] = share[q] + x;
              j = 0;
              for (i : 0 .. SLOTS - 1) {
                if :: i < nbatch[q] -> j = j + UNITS(q / NSH, dcnt[q * SLOTS + i]) :: else -> skip fi
              }
              CHECK(n >= 0 && share[q] == j + n, INV_DEPOT_BOUND)
           :: kind == K_SPAN ->             /* HEAP-RETURN: a span back to the backend */
              /* INV-SPAN: no block of it is out (trace_tool.py gives one
               * event per block of the span the trace has seen) */
              CHECK(b == NONE || inbackend[b], INV_SPAN)
           :: else -> CHECK(false, TRACE_FORMAT)
           fi;
           i = 0; j = 0; s = 0;
           k++;
           ev++
       :: else -> break
       od;
       k = 0
     }
  :: else -> break
  od;
  c_code { TRACE_ACCEPT(); }
}

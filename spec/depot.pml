/*
 * depot.pml: the thread caches, the shared depot and the backend of
 * concalloc (spec/SPEC.md, sections 5 and 8), as a Promela model.
 *
 * The steps themselves (a pop, a push, a spill, a put, an eviction, ...) are
 * defined once, in steps.pml (TRACE-STEPS), which the trace checker
 * (trace.pml: runs of the C++ code replayed through the same steps) includes
 * too; this file chooses among them, exhaustively.
 *
 * Run by spec/run-spin (all properties, all mutants). By hand (steps.pml
 * beside it):
 *   safety (INV-OWNERSHIP, INV-CONSERVE, INV-CACHE-BOUND, INV-DEPOT-BOUND,
 *   DEPOT-NO-DEADLOCK: assertions and invalid end states):
 *     spin -a depot.pml && cc -O1 -DSAFETY -DNOCLAIM -DCOLLAPSE -o pan pan.c && ./pan -m100000
 *   progress (DEPOT-PROGRESS: every Alloc returns, under weak fairness):
 *     spin -a depot.pml && cc -O1 -DCOLLAPSE -o pan pan.c && ./pan -a -f -m100000 -N progress
 *   CACHE-FILL with a fill of two (lists of two):
 *     spin -DDEPTH=2 -DFILL=2 -DNT=2 -DOPS=2 -a depot.pml, then as for safety
 *   DEPOT-XFER, four blocks of each class (a spare reaches a transfer of two
 *   blocks, batches longer than a list go round):
 *     spin -DNB=8 -DNT=2 -DOPS=3 -a depot.pml, then as for safety
 *   DEPOT-CREDIT (queues keep credit, a chunk of one block, in a budget of
 *   three blocks):
 *     spin -DCHUNK=1 -DBUDGET=3 -DNT=2 -DOPS=3 -a depot.pml, then as for safety
 *   a mutant: add -DMUTANT_<NAME> to spin, e.g. spin -DMUTANT_LOST_BATCH -a depot.pml
 *   LIFE-6 (a thread may die without its teardown; Trim and process exit
 *   reap its cache): spin -DORPHANS -DNT=2 -DOPS=2 -a depot.pml, then as
 *   for safety
 *
 * Bounds (exhaustive, no -DBITSTATE): NT threads, each doing up to OPS
 * operations then exiting; NC classes; NB blocks (NB / NC per class; when a
 * class has none left in the backend, Alloc fails as on ALLOC-4); DEPTH per
 * list; NSH shards per class (DEPOT-SHARD; 1 unless -DNSH=2), each a queue
 * of batches with its own lock; BUDGET blocks in the depot (the byte budget,
 * with every class one unit big and batch records free), which is also the
 * most batches a queue can hold (SLOTS: the model's arrays, not a bound of
 * the C++ depot). Every thread has the same depth, so the C++ path that
 * cuts a batch longer than the list (RefillFromDepot) is not modelled.
 * BUDGET is constant: DEPOT-GROW's doublings and the resets of Trim and
 * DEPOT-QUIET, and INV-DEPOT-BOUND's ceiling across them (a part stays
 * within the budget in force when it was reserved), are checked in C++
 * (Depot.ValidateHoldsWhileTrimSetsAGrownBudgetBack), not here.
 *   DEPOT-XFER: each thread has a spare per class (up to SLIMIT blocks) that
 *   a spill joins and an empty list refills from first; it goes to the depot
 *   as one batch once it holds xfer blocks, and xfer may then grow, up to
 *   XMAX (any rule of growth within [BATCH, XMAX]: the C++ rule doubles it
 *   when the thread's shard holds two batches or more, while a batch stays
 *   within an eighth of the budget); a take from the depot resets it to
 *   BATCH. (The C++ code cuts chains at segment ends, DEPOT-SEGMENT, so a
 *   refill may take fewer than min(room, spare) blocks; with the lists of
 *   one or two blocks modelled here that never differs.)
 *   DEPOT-CREDIT: the reservation rsv (g_depot_bytes) is the batches' units
 *   plus each queue's credit; a put draws on its queue's credit, else
 *   reserves its shortfall and CHUNK more (or the shortfall alone), a take
 *   and an eviction add the batch's units to the credit, and a credit past
 *   2 * CHUNK goes back down to CHUNK; a put whose queue has nothing left
 *   to evict collects the other queues' credits, one lock at a time, and
 *   tries once more before it is refused; a trim gives back the queue's
 *   batches and its credit. CHUNK 0 (the default runs) is the protocol
 *   without credit: each batch reserves and releases its own units.
 *   DEPOT-EVICT (a full depot gives back its oldest batches) and
 *   DEPOT-QUIET (the last worker's exit trims the depot to QUIET_KEEP
 *   blocks) are checked in every run: the batch given back must be the
 *   oldest of its queue (by put order, the ghost dseq; -DNO_EVICT_ORDER
 *   leaves that one check, and its state, out of the largest run).
 *
 * Model -> C++ (src/):
 *   proctype Thread(me)     a thread calling concalloc; its operations:
 *     Alloc                 AllocFast / AllocSmallSlow / RefillFromDepot
 *     Free                  FreeFast / FreeSlow / SpillBatch / PushBlock
 *     HandOver              the program passing a live block to another thread
 *     Flush                 FlushCache / DrainBins(to_depot = false)
 *     Trim                  TrimAll / DepotTrim
 *     exit                  TearDownCallingThread / DrainBins(to_depot = true);
 *                           with ORPHANS, or a death without it (LIFE-6: a
 *                           cache made in the last round of key destructors)
 *     reap                  ReapOrphans: in Trim, and at process exit (init)
 *   list[], top[]           ThreadCache::head[c], Room(tc, c) (top = count = limit - room)
 *   hand[], hcnt[]          the local Batch of SpillBatch / RefillFromDepot /
 *                           DrainBins / DepotTrim, between lock and list
 *   spare[], scnt[], xfer[] ThreadCache::spare[c], nspare[c], xfer[c] (DEPOT-XFER)
 *   queue q = c*NSH + s     g_shards[c][s]; a thread's own shard is me % NSH
 *   dblk[], dcnt[], nbatch[] the shard's batch records (oldest at slot 0)
 *   dseq[], putseq          the order batches were put in (ghost state)
 *   dunits                 Shard::bytes, summed (in units of one block)
 *   rsv, credit[q]          g_depot_bytes, Shard::credit (DEPOT-CREDIT)
 *   lock[q]                 Shard::lock
 *   owner[]                 live blocks, held by the program
 *   inbackend[]             blocks in the backend (the heap, HEAP-SPAN)
 *   sused[]                 Span::used: each span's blocks out of the backend
 */

#ifndef NT
#define NT 3
#endif
#define NC 2
#ifndef NB
#define NB 6
#endif
#ifndef DEPTH
#define DEPTH 1
#endif
#if DEPTH >= 2                  /* SpillBatch: max(1, DEPTH / 2) */
#define BATCH (DEPTH / 2)
#else
#define BATCH 1
#endif
/* CACHE-FILL: a miss that the depot cannot serve takes up to FILL blocks
 * from the backend, FILL - 1 onto the list (C++: min(2^k, max(1, limit / 2),
 * max(1, 4096 / class size)) at the k-th miss of the class, so the C++ fill
 * is at most the model's; the model's classes are one unit big). */
#ifndef FILL
#define FILL BATCH
#endif
#ifndef BUDGET
#define BUDGET 2
#endif
/* DEPOT-XFER: the largest transfer unit (C++: XferMax), and a spare's bound
 * (C++: SpareLimit = XferMax + a spill - 1). */
#ifndef XMAX
#define XMAX (2 * BATCH)
#endif
#define SLIM (XMAX + BATCH - 1)
#define SCAP SLIM
#if BUDGET > 0
#define SLOTS BUDGET             /* batches hold a block or more */
#else
#define SLOTS 1
#endif
#ifndef NSH
#define NSH 1
#endif
#define NQ (NC * NSH)
#ifndef QUIET_KEEP
#define QUIET_KEEP 0
#endif
#ifndef OPS
#define OPS 2
#endif
#if SLIM > DEPTH                /* the longest batch: a spare's, or a drained list */
#define BATCHMAX SLIM
#else
#define BATCHMAX DEPTH
#endif
#define HCAP (SLOTS * BATCHMAX) /* a hand holds a batch, or a class's whole depot */
#define NONE 255

/* What spec/steps.pml needs (its header says what each is). */
#define LDEPTH DEPTH
#define BMAX BATCHMAX
#define BLK byte
#define LIMIT(t, c) DEPTH
#define SLIMIT(t, c) SLIM
#define UNITS(c, n) (n)                /* the budget in blocks; records are free */
#define CHECK(cond, CLAUSE) assert((cond) || CLAUSE)

/* ThreadCache lists: list (t, c) is list[LIST(t, c) + 0 .. top-1] (one spare
 * slot per list, used only by MUTANT_OVER_BOUND). */
byte list[NT * NC * (DEPTH + 1)];
byte top[NT * NC];
/* Depot: batch s of queue q is dblk[SLOT(q, s) + 0 .. dcnt-1], slot 0 the
 * oldest. */
byte dblk[NQ * SLOTS * BATCHMAX];
byte dcnt[NQ * SLOTS];
#ifndef NO_EVICT_ORDER
byte dseq[NQ * SLOTS];           /* ghost state for DEPOT-EVICT's check */
byte putseq;
#define EVICT_GHOST_MOVE(q0, i0) dseq[(q0) * SLOTS + (i0)] = dseq[(q0) * SLOTS + (i0) + 1]
#define EVICT_GHOST_CLEAR(q0) dseq[(q0) * SLOTS + nbatch[q0]] = 0
#define PUT_GHOST(q0) dseq[(q0) * SLOTS + nbatch[q0]] = putseq; putseq++
#else
#define EVICT_GHOST_MOVE(q0, i0) skip
#define EVICT_GHOST_CLEAR(q0) skip
#define PUT_GHOST(q0) skip
#endif
byte nbatch[NQ];
byte dunits;                     /* what the batches take, in blocks */
/* DEPOT-CREDIT: the reservation (g_depot_bytes) and each queue's credit,
 * in blocks: rsv == dunits + sum of credit (INV-DEPOT-BOUND). */
byte rsv;
byte credit[NQ];
byte lock[NQ];                   /* 0: free; t + 1: held by thread t */
/* DEPOT-XFER: thread t's spare of class c: spare[SP(t, c) + 0 .. scnt - 1]. */
byte spare[NT * NC * SCAP];
byte scnt[NT * NC];
byte xfer[NT * NC];
/* A thread's hand: blocks it moves outside any list or the depot. */
byte hand[NT * HCAP];
byte hcnt[NT];
byte owner[NB];                  /* 0: not live; t + 1: live in thread t */
bool inbackend[NB];
bool want[NT];                   /* thread t is inside Alloc (DEPOT-PROGRESS) */
bool exiting[NT];                /* thread t takes no more hand-overs */
bool orphan[NT];                 /* LIFE-6: t died without its teardown */
byte running;

#if NT == 3
ltl progress { [] ((want[0] -> <> !want[0]) && (want[1] -> <> !want[1]) &&
                   (want[2] -> <> !want[2])) }
#else
ltl progress { [] ((want[0] -> <> !want[0]) && (want[1] -> <> !want[1])) }
#endif

/* Always 0: a failed assert(x || INV_X) prints the clause it checks. */
bit INV_OWNERSHIP, INV_CONSERVE, INV_CACHE_BOUND, INV_DEPOT_BOUND, DEPOT_EVICT, DEPOT_QUIET,
    MODEL_CAPACITY, CACHE_2, INV_SPARE, DEPOT_CREDIT, INV_SPAN;

/* HEAP-SPAN, HEAP-RETURN, INV-SPAN: the backend's blocks lie in spans of
 * SPANB blocks of one class (class c's k-th block, b = k * NC + c, is in
 * its class's span k / SPANB); sused[sp] counts span sp's blocks out of the
 * backend (C++: Span::used). A block given back to a span with none counted
 * out, or a span counted empty while a block of it is out, breaks INV-SPAN
 * (C++: HARD-SPAN's count test; TRACE-SPAN). */
#define SPANB 2
#define NSPAN (NC * ((NB / NC + SPANB - 1) / SPANB))
#define SPAN_OF(b) (((b) / NC / SPANB) * NC + (b) % NC)
#define SPAN_B1(sp) (((sp) / NC) * SPANB * NC + (sp) % NC)
#define SPAN_B2(sp) (SPAN_B1(sp) + NC)
#define SPAN_ALL_BACK(sp) (inbackend[SPAN_B1(sp)] && (SPAN_B2(sp) >= NB || inbackend[SPAN_B2(sp)]))
byte sused[NSPAN];
#ifdef MUTANT_SPAN_MISCOUNT       /* the first block of each span is not counted out */
#define SPAN_TAKE(b) if :: SPAN_B1(SPAN_OF(b)) == (b) -> skip :: else -> sused[SPAN_OF(b)]++ fi
#else
#define SPAN_TAKE(b) sused[SPAN_OF(b)]++
#endif
#define SPAN_GIVE(b) CHECK(sused[SPAN_OF(b)] > 0, INV_SPAN); sused[SPAN_OF(b)]--; \
  CHECK(sused[SPAN_OF(b)] > 0 || SPAN_ALL_BACK(SPAN_OF(b)), INV_SPAN)
#define MYQ(c) ((c) * NSH + me % NSH)
/* DEPOT-CREDIT: a queue's credit is refilled CHUNK blocks at a time beyond
 * the batch it pays for, and what passes 2 * CHUNK goes back (C++:
 * CreditChunk = budget / (4 * (shards used + kCreditSlack)), a fixed
 * number here; CHUNK 0: every batch reserves and releases exactly its own
 * bytes, as a budget too small for a chunk does). */
#ifndef CHUNK
#define CHUNK 0
#endif
#define FITS(q0, n0) (credit[q0] >= (n0) || rsv + (n0) - credit[q0] <= BUDGET)

#include "steps.pml"

/* INV-OWNERSHIP, INV-CACHE-BOUND, INV-DEPOT-BOUND: checked at the end of
 * every step that moves a block. Uses the caller's locals k, i, j, n. */
inline check_state() {
  k = 0;
  do
  :: k < NB ->
     n = inbackend[k] + (owner[k] > 0);
     for (i : 0 .. NT * NC - 1) {
       for (j : 0 .. DEPTH) { n = n + (j < top[i] && list[i * (DEPTH + 1) + j] == k) }
     }
     for (i : 0 .. NQ * SLOTS - 1) {
       for (j : 0 .. BATCHMAX - 1) {
         n = n + (i % SLOTS < nbatch[i / SLOTS] && j < dcnt[i] && dblk[i * BATCHMAX + j] == k)
       }
     }
     for (i : 0 .. NT * NC - 1) {
       for (j : 0 .. SCAP - 1) { n = n + (j < scnt[i] && spare[i * SCAP + j] == k) }
     }
     for (i : 0 .. NT - 1) {
       for (j : 0 .. HCAP - 1) { n = n + (j < hcnt[i] && hand[i * HCAP + j] == k) }
     }
     assert(n == 1 || INV_OWNERSHIP);   /* INV-OWNERSHIP: in exactly one place */
     k++
  :: else -> break
  od;
  for (i : 0 .. NT * NC - 1) { assert((top[i] <= DEPTH && scnt[i] <= SLIM) || INV_CACHE_BOUND) }
  /* INV-SPARE: a transfer unit stays within [BATCH, XMAX] */
  for (i : 0 .. NT * NC - 1) { assert((xfer[i] >= BATCH && xfer[i] <= XMAX) || INV_SPARE) }
  /* INV-DEPOT-BOUND: the reservation is the batches and the credits, and
   * never passes the budget */
  n = dunits;
  for (i : 0 .. NQ - 1) { n = n + credit[i] }
  assert((rsv == n && rsv <= BUDGET) || INV_DEPOT_BOUND);
  for (i : 0 .. NQ - 1) { assert(nbatch[i] <= SLOTS || MODEL_CAPACITY) };
  k = 0; i = 0; j = 0; n = 0
}

/* A queue's lock (DEPOT-LOCK: one per shard of a class). A critical
 * section under a correct lock is one atomic step (the lock is taken for
 * O(1) work); `lock` stays explicit so that a section that forgets to
 * release it deadlocks the model. */
#define LOCKED_BEGIN(q0) atomic { lock[q0] == 0 -> lock[q0] = me + 1; d_step {
#define LOCKED_END } }
#ifdef MUTANT_NO_UNLOCK
#define UNLOCK_ON_REFUSAL(q0) skip
#else
#define UNLOCK_ON_REFUSAL(q0) lock[q0] = 0
#endif

/* DEPOT-EVICT: the oldest batch of queue q0 (slot 0) goes to the backend
 * (in C++ after the lock is released; here within the step: its blocks are
 * the thread's alone meanwhile). Asserts that it is the queue's oldest by
 * put order (the ghost dseq). */
inline evict_oldest(q0) {
#ifdef MUTANT_EVICT_NEWEST
  s2 = nbatch[q0] - 1;                /* gives back the newest instead */
#else
  s2 = 0;
#endif
#ifndef NO_EVICT_ORDER
  for (i : 0 .. SLOTS - 1) { assert(i >= nbatch[q0] || dseq[q0 * SLOTS + s2] <= dseq[q0 * SLOTS + i] || DEPOT_EVICT) }
#endif
  depot_evict(q0, s2, dcnt[q0 * SLOTS + s2], NONE);
  s2 = 0
}

/* DEPOT-CREDIT, under queue q0's lock: what passes 2 * CHUNK goes back to
 * the reservation, and the queue keeps CHUNK. C++: SettleCredit. */
inline settle_credit(q0) {
  if
  :: credit[q0] > 2 * CHUNK ->
#ifndef MUTANT_CREDIT_LOST
     rsv = rsv - (credit[q0] - CHUNK);
#endif
     credit[q0] = CHUNK
  :: else -> skip
  fi
}

/* DEPOT-CREDIT: n0 blocks for a new batch of queue q0 (FITS holds): from its
 * credit, else reserved, with a chunk more if the budget has room. C++:
 * DrawCredit. */
inline draw_credit(q0, n0) {
  if
  :: credit[q0] >= n0 -> credit[q0] = credit[q0] - n0
  :: else ->
     if
     :: rsv + (n0 - credit[q0]) + CHUNK <= BUDGET ->
        rsv = rsv + (n0 - credit[q0]) + CHUNK;
        credit[q0] = CHUNK
     :: else ->
        rsv = rsv + (n0 - credit[q0]);
        credit[q0] = 0
     fi
  fi
}

/* DEPOT-PUT of the hand (one batch of class c) into queue q0, the caller
 * holding its lock: room is made with the queue's oldest batches
 * (DEPOT-EVICT; their blocks' share of the reservation becomes the queue's
 * credit); when the queue has none left, the lock is released with the
 * batch still in the hand (collect = 1) and the caller collects the other
 * queues' credits (put_batch) and tries once more; a batch that still does
 * not fit is refused and goes to the backend (DEPOT-BUDGET). */
inline hand_to_depot(q0) {
#ifndef MUTANT_NO_BOUND
  do
  :: !FITS(q0, hcnt[me]) && nbatch[q0] > 0 ->
     n = dcnt[q0 * SLOTS];
     evict_oldest(q0);
     credit[q0] = credit[q0] + n;
     n = 0
  :: else -> break
  od;
#endif
  if
#ifdef MUTANT_NO_BOUND
  :: nbatch[q0] < SLOTS ->
     if :: !FITS(q0, hcnt[me]) -> rsv = rsv + hcnt[me] :: else -> draw_credit(q0, hcnt[me]) fi;
#else
  :: FITS(q0, hcnt[me]) ->
     draw_credit(q0, hcnt[me]);
#endif
     depot_put(me, q0, hcnt[me], hand[me * HCAP], BUDGET);
     settle_credit(q0);
     collect = 0;
     check_state();
     lock[q0] = 0
#ifndef MUTANT_CREDIT_STRANDED
  :: !FITS(q0, hcnt[me]) && collect == 0 ->  /* DEPOT-CREDIT: collect, then again */
     collect = 1;
     check_state();
     lock[q0] = 0
#endif
  :: else ->
     /* DEPOT-CREDIT: refused only once the other queues' credits were
      * collected */
     assert(collect == 1 || DEPOT_CREDIT);
     collect = 0;
     check_state();
     UNLOCK_ON_REFUSAL(q0);
     hand_to_backend(me, hcnt[me])
  fi
}

/* DEPOT-PUT of class c's list (fromlist) or spare as one batch into queue
 * q0: the blocks go to the hand under the lock, then hand_to_depot; when
 * that asks for it (collect), every other queue's credit goes back to the
 * reservation, one lock at a time (DEPOT-CREDIT), and the put runs once
 * more with the batch still in the hand. C++: DepotPut, CollectCredits.
 * (One expansion of hand_to_depot per call site keeps pan.c small.) */
inline put_batch(q0) {
  do
  :: LOCKED_BEGIN(q0)
       if
       :: collect == 0 && fromlist -> n2 = top[me * NC + c]; list_to_hand(me, c, n2)
       :: collect == 0 && !fromlist -> n2 = scnt[me * NC + c]; spare_to_hand(me, c, n2)
       :: else -> skip
       fi;
       n2 = 0;
       hand_to_depot(q0)
     LOCKED_END;
     if
     :: collect == 1 ->
        for (cq : 0 .. NQ - 1) {
          if
          :: cq != q0 ->
             LOCKED_BEGIN(cq)
               rsv = rsv - credit[cq];
               credit[cq] = 0;
               check_state();
               lock[cq] = 0
             LOCKED_END
          :: else -> skip
          fi
        };
        cq = 0
     :: else -> break
     fi
  od
}

/* DEPOT-REFILL: the newest batch of queue q0 -> the hand -> list (me, c),
 * the rest to the (empty) spare; DEPOT-XFER: a take resets xfer. (Every
 * thread has the same depth, so the rest always fits the spare.) */
inline depot_to_list(q0) {
  CHECK(nbatch[q0] > 0, INV_OWNERSHIP);
  n2 = dcnt[q0 * SLOTS + nbatch[q0] - 1];
  depot_take(me, q0, n2, NONE);
  credit[q0] = credit[q0] + n2;       /* DEPOT-CREDIT: stays reserved */
  settle_credit(q0);
  n = (n2 < DEPTH -> n2 : DEPTH);
  hand_to_list(me, c, n);
#ifdef MUTANT_REST_LOST
  hcnt[me] = 0;                       /* the rest of a long batch is dropped */
#else
  if :: hcnt[me] > 0 -> hand_to_spare(me, c, hcnt[me]) :: else -> skip fi;
#endif
  xfer[me * NC + c] = BATCH;
  n2 = 0
}

inline Alloc() {
  if
  :: top[me * NC + c] > 0 -> skip
  :: else ->
     want[me] = 1;
     if
     :: BUDGET > 0 && scnt[me * NC + c] > 0 ->   /* DEPOT-XFER: the spare first, no lock */
        d_step {
          n2 = (scnt[me * NC + c] < DEPTH -> scnt[me * NC + c] : DEPTH);
          spare_to_hand(me, c, n2);
          hand_to_list(me, c, n2);
          n2 = 0;
          check_state()
        }
     :: BUDGET > 0 && scnt[me * NC + c] == 0 ->  /* DEPOT-REFILL */
#ifdef MUTANT_RACE
        /* reads the depot without the lock, then takes the batch */
        q = MYQ(c);
        if
        :: nbatch[q] > 0 -> d_step { depot_to_list(q); check_state() }
        :: else -> skip
        fi;
        q = 0
#else
        /* DEPOT-SHARD: its own shard first, then the others */
        k2 = 0;
        do
        :: k2 < NSH && top[me * NC + c] == 0 ->
           q = c * NSH + (me + k2) % NSH;
#ifdef MUTANT_STEAL_RACE
           if
           :: k2 > 0 ->               /* takes from another shard without its lock */
              if
              :: nbatch[q] > 0 -> d_step { depot_to_list(q); check_state() }
              :: else -> skip
              fi
           :: else ->
#endif
           LOCKED_BEGIN(q)
             if :: nbatch[q] > 0 -> depot_to_list(q) :: else -> skip fi;
             check_state();
             lock[q] = 0
           LOCKED_END;
#ifdef MUTANT_STEAL_RACE
           fi;
#endif
           k2++
        :: else -> break
        od;
        k2 = 0;
        q = 0
#endif
     :: else -> skip
     fi
  fi;
#ifdef MUTANT_WAIT_FOR_DEPOT
  /* waits for another thread's batch instead of going to the backend */
  do
  :: top[me * NC + c] > 0 -> break
  :: else -> skip
  od;
  n2 = 0;
#endif
  d_step {
    if
    :: top[me * NC + c] > 0 ->        /* CACHE-2: pop */
       b = list[LIST(me, c) + top[me * NC + c] - 1];
       cache_pop(me, c, b)
    :: else ->
       /* CACHE-FILL: first FILL - 1 blocks of class c from the backend onto
        * the list (while it has room), then the miss's own block */
       b = c;
       n2 = 0;
       do
       :: n2 < FILL - 1 && top[me * NC + c] < DEPTH && b < NB && !inbackend[b] -> b = b + NC
       :: n2 < FILL - 1 && top[me * NC + c] < DEPTH && b < NB && inbackend[b] ->
          cache_fill(me, c, b);
          n2++;
          b = b + NC
       :: else -> break
       od;
       do
#ifdef MUTANT_FILL_KEEPS_TOP
       /* returns the top of the filled list without popping it */
       :: top[me * NC + c] > 0 -> owner[list[LIST(me, c) + top[me * NC + c] - 1]] = me + 1; break
#endif
       :: b < NB && !inbackend[b] -> b = b + NC
       :: b < NB && inbackend[b] -> backend_new(me, b); break
       :: b >= NB ->                  /* the backend fails: ALLOC-4, unless the fill got one */
          if
          :: top[me * NC + c] > 0 ->
             b = list[LIST(me, c) + top[me * NC + c] - 1];
             cache_pop(me, c, b)
          :: else -> skip
          fi;
          break
       od;
       n2 = 0
    fi;
    b = 0;
    want[me] = 0;
    check_state()
  }
}

/* Free of block b, live in this thread (FREE-2: whoever allocated it). */
inline Free() {
  c = b % NC;
  if
  :: top[me * NC + c] == DEPTH && BUDGET > 0 ->     /* DEPOT-SPILL, DEPOT-XFER */
     d_step { list_to_hand(me, c, BATCH); hand_to_spare(me, c, BATCH); check_state() };
#ifndef MUTANT_SPARE_UNBOUNDED
     if
     :: scnt[me * NC + c] >= xfer[me * NC + c] ->
        /* the next transfer may grow (any rule within [BATCH, XMAX]) */
        if
#ifdef MUTANT_XFER_OVER
        :: xfer[me * NC + c] < XMAX + 1 -> xfer[me * NC + c] = xfer[me * NC + c] + 1
#else
        :: xfer[me * NC + c] < XMAX -> xfer[me * NC + c] = xfer[me * NC + c] + 1
#endif
        :: true -> skip
        fi;
        q = MYQ(c);
        fromlist = 0;
        put_batch(q);
        q = 0
     :: else -> skip
     fi
#endif
  :: else -> skip
  fi;
  d_step {
    if
#ifdef MUTANT_OVER_BOUND
    :: top[me * NC + c] <= DEPTH ->   /* pushes past the bound */
#else
    :: top[me * NC + c] < DEPTH ->    /* CACHE-3: push */
#endif
       cache_push(me, c, b)
    :: else -> live_to_backend(b)     /* no depot: the original's behaviour */
    fi;
    b = 0;
    check_state()
  }
}

/* b = the first block of class c live in this thread, or NB. */
inline first_live(c0) {
  b = c0;
  do
  :: b < NB && owner[b] != me + 1 -> b = b + NC
  :: else -> break
  od;
  if :: b > NB -> b = NB :: else -> skip fi
}

inline Flush() {
  d_step {
    for (k : 0 .. NC - 1) {
      n = top[me * NC + k];
      cache_flush(me, k, n);
      if                              /* FLUSH-1, DEPOT-XFER: the spare too */
      :: scnt[me * NC + k] > 0 -> n = scnt[me * NC + k]; spare_to_hand(me, k, n); hand_to_backend(me, n)
      :: else -> skip
      fi
    }
    n = 0;
    check_state()
  }
}

/* LIFE-6: the caches of dead threads (all but me) go to the backend. The
 * C++ code drains them to the depot (DEPOT-EXIT), which Trim then empties;
 * the model takes the shorter way to the same end. */
inline reap() {
  d_step {
    for (i : 0 .. NT - 1) {
#ifdef MUTANT_NO_REAP
      skip                            /* the dead threads' caches are lost */
#else
      if
      :: orphan[i] && i != me ->
         for (k : 0 .. NC - 1) {
           for (j : 0 .. DEPTH - 1) {
             if
             :: j < top[i * NC + k] -> inbackend[list[LIST(i, k) + j]] = 1; SPAN_GIVE(list[LIST(i, k) + j])
             :: else -> skip
             fi
           }
           top[i * NC + k] = 0;
           for (j : 0 .. SCAP - 1) {
             if
             :: j < scnt[i * NC + k] -> inbackend[spare[SP(i, k) + j]] = 1; SPAN_GIVE(spare[SP(i, k) + j])
             :: else -> skip
             fi
           }
           scnt[i * NC + k] = 0
         }
         orphan[i] = 0
      :: else -> skip
      fi
#endif
    }
    k = 0;
    check_state()
  }
}

/* The depot's batches -> the backend: every batch of every queue
 * (DEPOT-TRIM), or (DEPOT-QUIET) the oldest until it holds at most keep0
 * blocks, queue by queue, each under its lock. */
inline trim_depot(keep0) {
  for (q : 0 .. NQ - 1) {
    LOCKED_BEGIN(q)
      k2 = dunits;
      do
      :: nbatch[q] > 0 && dunits > keep0 -> evict_oldest(q)
      :: else -> break
      od;
      /* the batches' share and the queue's credit back (DEPOT-CREDIT) */
      rsv = rsv - (k2 - dunits) - credit[q];
      credit[q] = 0;
      k2 = 0;
      check_state();
      lock[q] = 0
    LOCKED_END
  };
  q = 0
}

inline Trim() {                       /* DEPOT-TRIM */
  Flush();
#ifdef ORPHANS
  reap();
#endif
  trim_depot(0)
}

proctype Thread(byte me) {
  byte op, b, c, i, j, k, n, n2, t2, q, k2, s2, cq;
  bit collect;                        /* DEPOT-CREDIT: a put's second round */
  bit fromlist;                       /* put_batch: the list, or the spare */
  do
  :: op < OPS ->
     op++;
     if
     :: c = 0; Alloc()
     :: c = 1; Alloc()
     :: d_step { first_live(0) }; if :: b < NB -> Free() :: else -> b = 0 fi
     :: d_step { first_live(1) }; if :: b < NB -> Free() :: else -> b = 0 fi
     :: d_step {                      /* HandOver to the next thread */
          first_live(op % NC);
          t2 = (me + 1) % NT;
          if :: b < NB && !exiting[t2] -> owner[b] = t2 + 1 :: else -> skip fi;
          t2 = 0;
          b = 0;
          check_state()
        }
     :: Flush()
     :: Trim()
     fi;
     c = 0
  :: op == OPS -> break
  od;
  exiting[me] = 1;
  /* Exit: free what is live here (the program's duty), then DEPOT-EXIT:
   * each list to the depot as one batch, refused ones to the backend. */
  for (n2 : 0 .. NB - 1) {
    if :: owner[n2] == me + 1 -> b = n2; Free() :: else -> skip fi
  };
  n2 = 0;
#ifdef MUTANT_EXIT_NO_DRAIN
  skip;                               /* the thread's lists are forgotten */
#else
#ifdef ORPHANS
  if
  :: orphan[me] = 1; goto dead        /* LIFE-6: no teardown */
  :: skip
  fi;
#endif
  /* each list, then each spare (DEPOT-XFER), as one batch */
  for (c : 0 .. NC - 1) {
    for (k2 : 0 .. 1) {
      if
      :: k2 == 0 && top[me * NC + c] > 0 && BUDGET > 0 -> fromlist = 1
#ifndef MUTANT_SPARE_LOST
      :: k2 == 1 && scnt[me * NC + c] > 0 -> fromlist = 0
#endif
      :: k2 == 0 && top[me * NC + c] > 0 && BUDGET == 0 -> Flush(); goto next
      :: else -> goto next
      fi;
      q = MYQ(c);
      put_batch(q);
      q = 0;
      fromlist = 0;
next:
      skip
    }
  };
  k2 = 0;
#endif
  c = 0;                              /* (a d_step may not follow a loop's end) */
  d_step { cache_exit(me); i = 0 };
#ifdef ORPHANS
dead:
#endif
  c = 0;
  /* DEPOT-QUIET: the last worker's exit trims the depot to QUIET_KEEP */
  if
  :: running == 1 && BUDGET > 0 ->
#ifndef MUTANT_NO_QUIET
     trim_depot(QUIET_KEEP);
#endif
     assert(dunits <= QUIET_KEEP || DEPOT_QUIET)
  :: else -> skip
  fi;
  running--
}

init {
  byte i, j, k, n;
#ifdef ORPHANS
  byte me;
#endif
  d_step {
    for (i : 0 .. NB - 1) { inbackend[i] = 1 }
    for (i : 0 .. NT * NC - 1) { xfer[i] = BATCH }
    running = NT
  };
  atomic {
    for (i : 0 .. NT - 1) { run Thread(i) }
  };
  running == 0;
#ifdef ORPHANS
  /* LIFE-6: process exit reaps every dead thread's cache */
  me = NT;
  reap();
#endif
  /* INV-CONSERVE: at the end every block is in the backend or the depot,
   * and the depot's count is its batches' sum. */
  d_step {
    n = 0;
    for (i : 0 .. NB - 1) { assert(owner[i] == 0 || INV_CONSERVE); n = n + inbackend[i] }
    assert(n + dunits == NB || INV_CONSERVE);
    for (i : 0 .. NT * NC - 1) { assert((top[i] == 0 && scnt[i] == 0) || INV_CONSERVE) }
    for (i : 0 .. NT - 1) { assert(hcnt[i] == 0 || INV_CONSERVE) }
    for (i : 0 .. NQ - 1) { assert(lock[i] == 0) }
    /* INV-SPAN: each span's count is its blocks out of the backend */
    for (i : 0 .. NSPAN - 1) {
      assert(sused[i] == (!inbackend[SPAN_B1(i)]) + (SPAN_B2(i) < NB && !inbackend[SPAN_B2(i)]) ||
             INV_SPAN)
    }
  };
  /* the exhaustive check of INV-OWNERSHIP at the final state */
  d_step { check_state() }
}

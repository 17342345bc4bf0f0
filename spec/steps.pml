/*
 * steps.pml: the one definition of each step of concalloc's protocol
 * (spec/SPEC.md sections 5, 8 and 12). Both the exhaustive model
 * (depot.pml, which chooses the steps) and the trace checker (trace.pml,
 * which replays a trace of the C++ code, one event per step) include this
 * file, so the two cannot drift apart.
 *
 * Each step first CHECKs what must hold for it to be possible (in the
 * exhaustive model these hold by construction and are plain assertions; in
 * the trace checker they are what a trace is checked against, and a failed
 * one names the event, its clause and the state), then moves its blocks.
 *
 * What the includer defines:
 *   NT, NC, NQ (= NC * NSH), SLOTS       threads, classes, depot queues, batches per queue
 *   LDEPTH, BMAX, HCAP, SCAP              list slots, blocks per batch slot, hand slots,
 *                                         spare slots (SCAP <= HCAP)
 *   BLK                                   the type of a block index (byte, short)
 *   LIMIT(t, c)                           list (t, c)'s bound (INV-CACHE-BOUND)
 *   SLIMIT(t, c)                          spare (t, c)'s bound (INV-CACHE-BOUND, DEPOT-XFER)
 *   UNITS(c, n)                           what a batch of n blocks of class c takes
 *                                         from the budget (blocks, or bytes)
 *   CHECK(cond, CLAUSE)                   how a step's precondition is checked
 *   the state below, declared by the includer with these names:
 *     list[], top[]        thread t's list of class c: list[LIST(t, c) + 0 .. top - 1],
 *                          the top (the next block popped) at top - 1
 *     spare[], scnt[]      thread t's spare of class c (DEPOT-XFER):
 *                          spare[SP(t, c) + 0 .. scnt - 1], its first block first
 *     hand[], hcnt[]       blocks thread t moves between a list, the depot and the
 *                          backend (a batch on its way), hand[0] the chain's head
 *     dblk[], dcnt[], nbatch[]  queue q's batches, slot 0 the oldest, each a chain
 *                          dblk[SLOT(q, s) + 0 .. dcnt - 1], head first
 *     dunits               what the depot's batches take from the budget
 *     owner[], inbackend[] live blocks (owner = t + 1), blocks in the backend
 */

/* HEAP-SPAN, HEAP-RETURN (INV-SPAN): the backend's blocks lie in spans.
 * SPAN_TAKE(b) and SPAN_GIVE(b), defined by the includer, count a span's
 * blocks out of the backend as a step takes or gives b (depot.pml; the
 * trace checker has the C++'s own report, SPAN, instead); by default
 * nothing. */
#ifndef SPAN_TAKE
#define SPAN_TAKE(b) skip
#endif
#ifndef SPAN_GIVE
#define SPAN_GIVE(b) skip
#endif

#define LIST(t, c) (((t) * NC + (c)) * (LDEPTH + 1))
#define SLOT(q, s) (((q) * SLOTS + (s)) * BMAX)
#define SP(t, c) (((t) * NC + (c)) * SCAP)

/* CACHE-2 (TRACE-POP): the top of list (t0, c0), which must be b0, to the
 * user. C++: PopBlock. */
inline cache_pop(t0, c0, b0) {
  CHECK(top[t0 * NC + c0] > 0, CACHE_2);
  CHECK(list[LIST(t0, c0) + top[t0 * NC + c0] - 1] == b0, CACHE_2);
  top[t0 * NC + c0]--;
  owner[b0] = t0 + 1
}

/* CACHE-3 (TRACE-PUSH): b0, a live block (FREE-2: of any thread), on top of
 * list (t0, c0), which has room. C++: PushBlock. */
inline cache_push(t0, c0, b0) {
  CHECK(owner[b0] > 0, INV_OWNERSHIP);          /* a block freed twice is not live */
  CHECK(top[t0 * NC + c0] < LIMIT(t0, c0), INV_CACHE_BOUND);
  owner[b0] = 0;
  list[LIST(t0, c0) + top[t0 * NC + c0]] = b0;
  top[t0 * NC + c0]++
}

/* CACHE-FILL (TRACE-FILL): b0 from the backend on top of list (t0, c0).
 * C++: FillFromHeap. */
inline cache_fill(t0, c0, b0) {
  CHECK(inbackend[b0], INV_OWNERSHIP);
  CHECK(top[t0 * NC + c0] < LIMIT(t0, c0), INV_CACHE_BOUND);
  inbackend[b0] = 0;
  SPAN_TAKE(b0);
  list[LIST(t0, c0) + top[t0 * NC + c0]] = b0;
  top[t0 * NC + c0]++
}

/* ALLOC-1 (TRACE-NEW): b0 from the backend to the user of thread t0.
 * C++: FillFromHeap in AllocSmallSlow. */
inline backend_new(t0, b0) {
  CHECK(inbackend[b0], INV_OWNERSHIP);
  inbackend[b0] = 0;
  SPAN_TAKE(b0);
  owner[b0] = t0 + 1
}

/* CACHE-3, FREE-2 (TRACE-BACK): b0, live, to the backend (no cache, or a
 * full list without the depot). C++: FreeSlow. */
inline live_to_backend(b0) {
  CHECK(owner[b0] > 0, INV_OWNERSHIP);
  owner[b0] = 0;
  inbackend[b0] = 1;
  SPAN_GIVE(b0)
}

/* FLUSH-1 (TRACE-FLUSH): every block of list (t0, c0), n0 of them, to the
 * backend. C++: FlushList. */
inline cache_flush(t0, c0, n0) {
  CHECK(n0 == top[t0 * NC + c0], INV_CONSERVE);  /* none lost on the way */
  for (i : 0 .. LDEPTH - 1) {
    if :: i < top[t0 * NC + c0] -> inbackend[list[LIST(t0, c0) + i]] = 1; SPAN_GIVE(list[LIST(t0, c0) + i])
       :: else -> skip fi
  }
  top[t0 * NC + c0] = 0
}

/* DEPOT-SPILL, DEPOT-EXIT (TRACE-SPILL, TRACE-DRAIN): the top n0 blocks of
 * list (t0, c0), the top first, to thread t0's empty hand. C++: SpillBatch,
 * DrainBins. */
inline list_to_hand(t0, c0, n0) {
  CHECK(hcnt[t0] == 0, INV_CONSERVE);             /* the last batch went somewhere */
  CHECK(n0 <= top[t0 * NC + c0] && n0 <= HCAP, INV_OWNERSHIP);
  for (i : 0 .. LDEPTH - 1) {
    if
    :: i < n0 -> hand[t0 * HCAP + i] = list[LIST(t0, c0) + top[t0 * NC + c0] - 1 - i]
    :: else -> skip
    fi
  }
  hcnt[t0] = n0;
  top[t0 * NC + c0] = top[t0 * NC + c0] - n0
}

/* DEPOT-BUDGET (TRACE-REFUSE): thread t0's hand, n0 blocks, to the backend
 * (a refused batch). C++: GiveBackRefused. */
inline hand_to_backend(t0, n0) {
  CHECK(n0 == hcnt[t0], INV_CONSERVE);
  for (i : 0 .. HCAP - 1) {
#ifdef MUTANT_LOST_BATCH
    skip                                /* the batch is dropped */
#else
    if :: i < hcnt[t0] -> inbackend[hand[t0 * HCAP + i]] = 1; SPAN_GIVE(hand[t0 * HCAP + i])
       :: else -> skip fi
#endif
  }
  hcnt[t0] = 0
}

/* DEPOT-EVICT, DEPOT-TRIM, DEPOT-QUIET (TRACE-EVICT, TRACE-TRIM): batch s0
 * of queue q0, which must be its oldest (slot 0), to the backend; n0 blocks,
 * head b0 (NONE: not given). C++: DepotPut's eviction, TakeOldest. */
inline depot_evict(q0, s0, n0, b0) {
  CHECK(s0 < nbatch[q0], INV_OWNERSHIP);
  CHECK(s0 == 0, DEPOT_EVICT);
  CHECK(n0 == dcnt[q0 * SLOTS + s0] && (b0 == NONE || b0 == dblk[SLOT(q0, s0)]), INV_OWNERSHIP);
  for (i : 0 .. BMAX - 1) {
    if :: i < dcnt[q0 * SLOTS + s0] -> inbackend[dblk[SLOT(q0, s0) + i]] = 1; SPAN_GIVE(dblk[SLOT(q0, s0) + i])
       :: else -> skip fi
  }
  dunits = dunits - UNITS(q0 / NSH, dcnt[q0 * SLOTS + s0]);
  for (i : 0 .. SLOTS - 2) {           /* the later slots move down */
    if
    :: i >= s0 && i + 1 < nbatch[q0] ->
       for (j : 0 .. BMAX - 1) { dblk[SLOT(q0, i) + j] = dblk[SLOT(q0, i + 1) + j] }
       dcnt[q0 * SLOTS + i] = dcnt[q0 * SLOTS + i + 1];
       EVICT_GHOST_MOVE(q0, i)
    :: else -> skip
    fi
  }
  nbatch[q0]--;
  dcnt[q0 * SLOTS + nbatch[q0]] = 0;
  EVICT_GHOST_CLEAR(q0);
  for (j : 0 .. BMAX - 1) { dblk[SLOT(q0, nbatch[q0]) + j] = 0 }
}

/* DEPOT-PUT (TRACE-PUT): thread t0's hand, n0 blocks with head b0, as the
 * newest batch of queue q0, within the budget bud0 (INV-DEPOT-BOUND). C++:
 * DepotPut. */
inline depot_put(t0, q0, n0, b0, bud0) {
  CHECK(n0 == hcnt[t0] && n0 > 0 && b0 == hand[t0 * HCAP], INV_CONSERVE);
  CHECK(dunits + UNITS(q0 / NSH, n0) <= bud0, INV_DEPOT_BOUND);
  CHECK(nbatch[q0] < SLOTS, MODEL_CAPACITY);
  for (i : 0 .. BMAX - 1) {
    dblk[SLOT(q0, nbatch[q0]) + i] = (i < n0 -> hand[t0 * HCAP + i] : 0)
  }
  dcnt[q0 * SLOTS + nbatch[q0]] = n0;
  PUT_GHOST(q0);
  dunits = dunits + UNITS(q0 / NSH, n0);
  nbatch[q0]++;
  hcnt[t0] = 0
}

/* DEPOT-TAKE (TRACE-TAKE): the newest batch of queue q0, n0 blocks with head
 * b0 (NONE: not given), to thread t0's empty hand. C++: DepotTake. */
inline depot_take(t0, q0, n0, b0) {
  CHECK(nbatch[q0] > 0, INV_OWNERSHIP);          /* a batch taken twice is gone */
  CHECK(n0 == dcnt[q0 * SLOTS + nbatch[q0] - 1] &&
        (b0 == NONE || b0 == dblk[SLOT(q0, nbatch[q0] - 1)]), INV_OWNERSHIP);
  CHECK(hcnt[t0] == 0, INV_CONSERVE);
  nbatch[q0]--;
  for (i : 0 .. BMAX - 1) {
    hand[t0 * HCAP + i] = (i < n0 -> dblk[SLOT(q0, nbatch[q0]) + i] : 0);
    dblk[SLOT(q0, nbatch[q0]) + i] = 0
  }
  hcnt[t0] = n0;
  dunits = dunits - UNITS(q0 / NSH, n0);
  dcnt[q0 * SLOTS + nbatch[q0]] = 0;
  EVICT_GHOST_CLEAR(q0)
}

/* DEPOT-REFILL (TRACE-REFILL): the first n0 blocks of thread t0's hand onto
 * its empty list (t0, c0), the head on top; the rest stays in the hand (a
 * batch longer than the list: C++ puts it back). C++: RefillFromDepot. */
inline hand_to_list(t0, c0, n0) {
  CHECK(top[t0 * NC + c0] == 0, INV_OWNERSHIP);
  CHECK(n0 > 0 && n0 <= hcnt[t0] && n0 <= LIMIT(t0, c0), INV_CACHE_BOUND);
  for (i : 0 .. LDEPTH - 1) {
    if :: i < n0 -> list[LIST(t0, c0) + n0 - 1 - i] = hand[t0 * HCAP + i] :: else -> skip fi
  }
  top[t0 * NC + c0] = n0;
  for (i : 0 .. HCAP - 1) {
    hand[t0 * HCAP + i] = (i + n0 < hcnt[t0] -> hand[t0 * HCAP + i + n0] : 0)
  }
  hcnt[t0] = hcnt[t0] - n0
}

/* DEPOT-XFER (TRACE-STASH): the first n0 blocks of thread t0's hand join
 * the front of its spare of class c0, the hand's first block first; the rest
 * stays in the hand (a batch longer than list and spare: C++ puts it back).
 * C++: StashBatch. */
inline hand_to_spare(t0, c0, n0) {
  CHECK(n0 > 0 && n0 <= hcnt[t0], INV_CONSERVE);
  CHECK(scnt[t0 * NC + c0] + n0 <= SLIMIT(t0, c0), INV_CACHE_BOUND);
  for (i : 0 .. SCAP - 1) {            /* the spare's blocks move back by n0 */
    j = SCAP - 1 - i;
    if
    :: j >= n0 && j - n0 < scnt[t0 * NC + c0] -> spare[SP(t0, c0) + j] = spare[SP(t0, c0) + j - n0]
    :: else -> skip
    fi
  }
  for (i : 0 .. SCAP - 1) {
    if :: i < n0 -> spare[SP(t0, c0) + i] = hand[t0 * HCAP + i] :: else -> skip fi
  }
  scnt[t0 * NC + c0] = scnt[t0 * NC + c0] + n0;
  for (i : 0 .. HCAP - 1) {
    hand[t0 * HCAP + i] = (i + n0 < hcnt[t0] -> hand[t0 * HCAP + i + n0] : 0)
  }
  hcnt[t0] = hcnt[t0] - n0
}

/* DEPOT-XFER (TRACE-UNSTASH): the first n0 blocks of thread t0's spare of
 * class c0, in order, to its empty hand. C++: TakeFromSpare. */
inline spare_to_hand(t0, c0, n0) {
  CHECK(hcnt[t0] == 0, INV_CONSERVE);              /* the last batch went somewhere */
  CHECK(n0 > 0 && n0 <= scnt[t0 * NC + c0], INV_OWNERSHIP);
  for (i : 0 .. SCAP - 1) {
    if :: i < n0 -> hand[t0 * HCAP + i] = spare[SP(t0, c0) + i] :: else -> skip fi
  }
  for (i : 0 .. SCAP - 1) {
    spare[SP(t0, c0) + i] = (i + n0 < scnt[t0 * NC + c0] -> spare[SP(t0, c0) + i + n0] : 0)
  }
  hcnt[t0] = n0;
  scnt[t0 * NC + c0] = scnt[t0 * NC + c0] - n0
}

/* LIFE-1, DEPOT-EXIT (TRACE-EXIT): thread t0's cache is torn down; its
 * lists and spares were drained and its hand is empty. C++:
 * TearDownCallingThread, ReapOrphans. */
inline cache_exit(t0) {
  for (i : 0 .. NC - 1) {
    CHECK(top[t0 * NC + i] == 0 && scnt[t0 * NC + i] == 0, INV_CONSERVE)
  }
  CHECK(hcnt[t0] == 0, INV_CONSERVE)
}

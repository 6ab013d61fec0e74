/*
 * A model of the ring protocol (docs/design.md §4), checked with Spin.
 *
 * It mirrors, step by step, the code it is about:
 *   user side  src/ring/protocol.h     enter, cancel, reenter (try_enter with an ID), query
 *   reclaimer  src/ring/reclaimer.h    claim, copy_chunk, retire (reclaim_chunk below);
 *                                      read_bytes, report_reclaimed (settle); read_indices,
 *                                      publish_len (resize)
 *   the loops and the lock around them: src/engine/engine.cpp (Engine::reclaim_chunk,
 *   Engine::reclaim, Engine::settle, Engine::resize, Engine::mu_)
 * Every access to shared memory in the real code is one step here (an entry
 * is two 64-bit words, so two steps). Steps that touch only the process's own
 * variables, or head and busy inside the engine's lock (only the engine that
 * holds the lock writes them), are merged into their neighbours: they commute
 * with everything the other processes do, so merging loses no behaviour.
 * Spin interleaves the steps in every possible order: the model is
 * sequentially consistent. docs/protocol-proof.md says which fences make that
 * valid for the real code on a weaker memory model.
 *
 * Processes: one user thread doing NOPS operations (enter, cancel, re-enter,
 * query, resize: the operations the API says one thread, or threads under
 * one lock, perform), and NENGINES reclaimer threads doing NRECLAIM
 * operations each: flush(1), flush(2), drain or trim under the engine's
 * mutex (every Engine entry point takes mu_), or a lock-free settle (what
 * update_accounting does before it takes the lock). Regions are abstract:
 * region r is entered with one byte of size.
 *
 * Properties (each an assert below; see docs/protocol-proof.md):
 *   P1  an entry cancelled as UNRECLAIMED is never reclaimed;
 *   P2  no entry is reclaimed twice, and the engine never reclaims a torn,
 *       stale or half-written entry;
 *   P3  head <= busy and busy - head <= CHUNK after every write of either,
 *       and the engine's index guards never fire for a user that follows
 *       the protocol;
 *   P4  a re-enter by ID never overwrites a live entry, and the region it
 *       re-enters is not lost;
 *   P5  the user side's answers are true: FREED/DEALLOCATED only for a
 *       reclaimed region, UNRECLAIMED only for one that is not, never
 *       INVALID_ID for an ID the user holds;
 *   P6  once everyone stops, a drain empties the ring: every region left in
 *       the ring is reclaimed, exactly once, and the byte count returns to 0;
 *   P7  the engine terminates (Spin's end-state check: every loop is bounded,
 *       the shrink loop strictly shrinks), and with the abort retry
 *       unbounded (-DUNBOUNDED_RETRY) no cycle avoids progress under weak
 *       fairness (pan -l -f): the engine does not livelock;
 *   P8  (with -DWEAK_VISIBILITY) every entry word the engine copies is one
 *       it is guaranteed to see under the C++ memory model, not a stale one.
 *
 * Mutants (-DMUTANT=n) each remove one piece of the protocol; Spin must find
 * a violation of the property each one breaks (model/CMakeLists.txt names it
 * and compiles with -DONLY=n, see CHECK below):
 *   1 the engine does not re-read the tail after publishing busy
 *   2 the user side has no fence between its tail store and busy load
 *     (modelled as the load moving above the store)
 *   3 the engine has no fence between its busy store and tail load
 *   4 enter publishes the tail before it writes the entry
 *   5 the engine does not give up when the tail is below head
 *   6 resize changes the length without reclaiming every entry first (and
 *     without its check that head == tail afterwards)
 *   7 the engine publishes head before it reclaims the entries
 *   8 cancel ignores busy
 *   9 re-enter checks the distance to the tail before head: the order of
 *     ring::reenter before commit 33d8b8a (finding F1 in the docs)
 *
 * -DWEAK_VISIBILITY adds what sequential consistency hides (P8): which of
 * the user's entry writes the engine is guaranteed to see under the C++
 * memory model. Each slot write gets a version; a release store of the tail
 * publishes every version written so far, a relaxed store only those
 * written before the user's last seq_cst fence, an engine fence those before
 * any user fence that precedes it; the engine asserts, for every word it
 * copies, that it is guaranteed the slot's latest version. The code's
 * orderings are selected by -DLOCK_RELEASE (the lock store `tail = id` in
 * cancel and re-enter is a release store; 0 = relaxed, as in the code) and
 * -DOLD_FENCES (the seq_cst fences enter, cancel and re-enter had before
 * commit 4240d9e; 0 = as in the code now). Finding F6.
 */

#ifndef LOCK_RELEASE
#define LOCK_RELEASE 1
#endif
#ifndef OLD_FENCES
#define OLD_FENCES 0
#endif

#ifndef LEN0
#define LEN0 2 /* initial ring length */
#endif
#ifndef CHUNK
#define CHUNK 2 /* tunables.chunk_size */
#endif
#ifndef NOPS
#define NOPS 4 /* user operations */
#endif
#ifndef NENGINES
#define NENGINES 1 /* reclaimer threads */
#endif
#ifndef NRECLAIM
#define NRECLAIM 2 /* operations per reclaimer thread */
#endif
#ifndef RESIZE_TO
#define RESIZE_TO 3 /* 0: no resize operation */
#endif
#ifndef MAXABORT
#define MAXABORT 2 /* stands for kMaxAbortedRounds */
#endif
#ifndef MUTANT
#define MUTANT 0
#endif
/* Every assertion names the property it checks: CHECK(n, c) for Pn. With
 * -DONLY=n only Pn's assertions are checked: a negative test then passes
 * only if its mutant breaks the property it is meant to break, not any. */
#ifndef ONLY
#define ONLY 0
#endif
#define CHECK(p, c) assert((ONLY != 0 && ONLY != (p)) || (c))
#define CHECK2(p, q, c) assert((ONLY != 0 && ONLY != (p) && ONLY != (q)) || (c))

#define MAXLEN 3
#define MAXID NOPS /* each enter issues at most one ID */
#define NREG NOPS  /* regions 1..NREG; 0 means an empty entry word */
#define INF 255

/* What a region is, in truth (a ghost: the code has no such thing). */
#define R_USER 0      /* the user owns it: never entered, or taken back by cancel */
#define R_INRING 1    /* in the ring: the engine may reclaim it */
#define R_RECLAIMED 2 /* the engine reclaimed it */

/* What the user believes about an ID it got. */
#define B_NONE 0
#define B_ENTERED 1 /* in the ring: may cancel or query it */
#define B_TAKEN 2   /* cancelled as UNRECLAIMED: may re-enter it */
#define B_GONE 3    /* BUSY, FREED, DEALLOCATED, or a failed re-enter */

/* The ring: header fields and entries. */
byte rlen = LEN0; /* ring->len: what the user side reads */
byte head, busy, tail;
byte w0[MAXLEN]; /* entry word 0 (address): the region number, 0 = empty */
byte w1[MAXLEN]; /* entry word 1 (size | behavior): the region number too */
byte bytes;      /* ring->reclaimable_bytes */

/* The engine's own state. */
byte elen = LEN0; /* Engine::len_, authoritative */
byte unreported;  /* Engine::unreported_ */
bit mutex;        /* Engine::mu_ */

/* Ghosts. */
byte rstate[NREG + 1];
byte reclaimed_times[NREG + 1];
byte done; /* processes that have finished */

#ifdef WEAK_VISIBILITY
/* Ghosts for P8: versions of each slot's contents. */
byte wver[MAXLEN]; /* written by the user so far */
byte fver[MAXLEN]; /* written before the user's last seq_cst fence */
byte tver[MAXLEN]; /* published by the store that wrote the current tail */
byte ever[MAXLEN]; /* guaranteed visible to the engine */
#define COPY3(d, s) d[0] = s[0]; d[1] = s[1]; d[2] = s[2]
#define RAISE(d, s, k) if :: d[k] < s[k] -> d[k] = s[k] :: else -> skip fi
#define MAX3(d, s) RAISE(d, s, 0); RAISE(d, s, 1); RAISE(d, s, 2)
#define WROTE(slot) wver[slot]++
#define USER_FENCE COPY3(fver, wver)
#define PUBLISH_REL COPY3(tver, wver)
#define PUBLISH_RELAXED COPY3(tver, fver)
#define ACQUIRE_TAIL MAX3(ever, tver)
#define ENGINE_FENCE MAX3(ever, fver)
#define SEES(slot) CHECK(8, ever[slot] >= wver[slot]) /* P8 */
#else
#define WROTE(slot) skip
#define USER_FENCE skip
#define PUBLISH_REL skip
#define PUBLISH_RELAXED skip
#define ACQUIRE_TAIL skip
#define ENGINE_FENCE skip
#define SEES(slot) skip
#endif
#if LOCK_RELEASE
#define PUBLISH_LOCK PUBLISH_REL
#else
#define PUBLISH_LOCK PUBLISH_RELAXED
#endif

inline lock() { atomic { mutex == 0 -> mutex = 1 } }
inline unlock() { mutex = 0 }

/* ---- the reclaimer (src/ring/reclaimer.h, driven by src/engine/engine.cpp) ---- */

/* P3 after every write of head or busy. */
#define INDICES_OK (head <= busy && busy - head <= CHUNK)

/* reclaim_entries() on one copied entry. */
inline reclaim_entry(x0, x1) {
  if
  :: x0 == 0 && x1 == 0 -> skip /* a cancelled slot: consumed for free */
  :: else ->
     atomic {
       CHECK(2, x0 == x1);               /* P2: never a torn entry */
       CHECK2(1, 2, rstate[x0] == R_INRING); /* P1, P2: not taken back, not reclaimed before */
       rstate[x0] = R_RECLAIMED;
       reclaimed_times[x0]++;
       printf("E%d: reclaims region %d\n", _pid, x0);
       cb++
     }
  fi
}

/*
 * Engine::reclaim_chunk(byte_target, max_entries): ring::claim up to the
 * copy, ring::copy_chunk, reclaim_entries, ring::retire. Outputs consumed, aborted,
 * and whole (0 when a byte target stopped it inside the chunk).
 */
inline reclaim_chunk(maxent, trim) {
  atomic {
    consumed = 0;
    aborted = 0;
    whole = 1;
    eh = head; /* only the lock holder writes head and busy */
    eb = busy;
    /* P3: the index guard never fires for a user that follows the protocol. */
    CHECK(3, eb >= eh && eb - eh <= CHUNK)
  }
#if MUTANT != 5
  atomic { et = tail; ACQUIRE_TAIL }
  if
  :: et < eh -> aborted = 1; printf("E%d: tail %d < head %d: gives up this round\n", _pid, et, eh) /* a cancel in flight */
  :: else ->
#else
  atomic { et = tail; ACQUIRE_TAIL }
  if
  :: false -> skip
  :: else ->
#endif
     atomic {
       /* P3: nor does the capacity guard (tail - head is unsigned there: a
          tail below head reads as a huge distance) */
       CHECK(3, et >= eh && et - eh <= elen);
       k = et - eh;
       if
       :: k > maxent -> k = maxent
       :: else -> skip
       fi
     }
     if
     :: k == 0 -> skip
     :: else ->
        do
        ::
#if MUTANT == 3
           atomic { et = tail; ACQUIRE_TAIL } /* no fence: the load floats above the store */
           atomic { busy = eh + k; CHECK(3, INDICES_OK) }
#else
           atomic { busy = eh + k; CHECK(3, INDICES_OK); ENGINE_FENCE } /* then the seq_cst fence */
           atomic { et = tail; ACQUIRE_TAIL }
#endif
#if MUTANT == 1
           break;
#endif
           if
           :: et >= eh + k -> break
           :: et < eh + k && et <= eh ->
              atomic { busy = eh; CHECK(3, INDICES_OK) }
              aborted = (et < eh);
              k = 0;
              break
           :: et < eh + k && et > eh ->
              CHECK(7, et - eh < k); /* P7: the chunk only shrinks */
              k = et - eh
           fi
        od;
        if
        :: k > 0 ->
           /* [head, busy) is ours: copy the entries out, one word at a time. */
           i = 0;
           do
           :: i < k ->
              atomic { c0[i] = w0[(eh + i) % elen]; SEES((eh + i) % elen) }
              atomic { c1[i] = w1[(eh + i) % elen]; SEES((eh + i) % elen); i++ }
           :: else -> break
           od;
           /* Oldest first until the byte target is met: a flush or drain
              takes all k, a trim may stop after any entry. */
           atomic {
             consumed = k;
             if
             :: trim ->
                do
                :: consumed > 1 -> consumed--
                :: break
                od
             :: else -> skip
             fi;
             whole = (consumed == k);
             i = 0
           }
#if MUTANT == 7
           atomic { head = eh + consumed; CHECK(3, INDICES_OK) }
           atomic { busy = eh + consumed; CHECK(3, INDICES_OK) }
#endif
           do
           :: i < consumed ->
              reclaim_entry(c0[i], c1[i]);
              i++
           :: else -> break
           od;
#if MUTANT != 7
           /* release: whoever sees the new head sees the memory reclaimed */
           atomic { head = eh + consumed; CHECK(3, INDICES_OK) }
           atomic { busy = eh + consumed; CHECK(3, INDICES_OK) }
#endif
           unreported = unreported + cb;
           printf("E%d: chunk [%d, %d): consumed %d, head = %d\n", _pid, eh, eh + k, consumed, eh + consumed)
        :: else -> skip
        fi
     fi
  fi;
  atomic {
    eb = 0; et = 0; k = 0; cb = 0;
    i = 0;
    do
    :: i < CHUNK -> c0[i] = 0; c1[i] = 0; i++
    :: else -> break
    od;
    i = 0
  }
}

/*
 * Engine::reclaim(byte_target, entry_target): chunks until the target, an
 * empty ring, or too many aborted rounds. A trim may be satisfied after any
 * chunk.
 */
inline reclaim(target, trim) {
  entries = 0;
  rounds = 0;
  do
  :: entries < target ->
     atomic {
       want = target - entries;
       if
       :: want > CHUNK -> want = CHUNK
       :: else -> skip
       fi
     }
     reclaim_chunk(want, trim);
     entries = entries + consumed;
     if
     :: aborted ->
#ifndef UNBOUNDED_RETRY
        rounds++;
        if
        :: rounds > MAXABORT -> break
        :: else -> skip
        fi
#else
        skip
#endif
     :: !aborted && consumed == 0 -> break /* empty */
     :: !aborted && consumed > 0 && !whole -> break /* byte target met */
     :: !aborted && consumed > 0 && whole && trim -> break /* byte target met */
     :: !aborted && consumed > 0 ->
progress_reclaimed:
        skip
     fi
  :: else -> break
  od;
  atomic { entries = 0; rounds = 0; want = 0; eh = 0; consumed = 0; whole = 0 }
}

/* Engine::settle: hands the unreported bytes to the ring's count (lock-free):
   ring::read_bytes, ring::report_reclaimed. */
inline settle() {
  atomic { s = unreported; unreported = 0 }
  if
  :: s > 0 ->
     CHECK(6, bytes >= s); /* the accounting guard never fires */
     atomic {
       CHECK(6, bytes >= s); /* account_reclaimed never wraps the count */
       bytes = bytes - s;
       s = 0
     }
  :: else -> skip
  fi
}

proctype Reclaimer(byte nops) {
  byte eh, eb, et, k, i, consumed, entries, rounds, s, want, cb, n;
  bit aborted, whole, trim;
  byte c0[CHUNK];
  byte c1[CHUNK];
  do
  :: nops > 0 ->
     /* flush(1), flush(2), a drain or a trim, each followed by settle under
        the lock, as the entry points do; or the lock-free settle of
        update_accounting. */
     if
     :: atomic { lock(); n = 1; trim = 0 }; reclaim(n, trim); settle(); unlock()
     :: atomic { lock(); n = 2; trim = 0 }; reclaim(n, trim); settle(); unlock()
     :: atomic { lock(); n = INF; trim = 0 }; reclaim(n, trim); settle(); unlock()
     :: atomic { lock(); n = INF; trim = 1 }; reclaim(n, trim); settle(); unlock()
     :: settle()
     fi;
     atomic { n = 0; trim = 0; aborted = 0; nops-- }
  :: else -> break
  od;
  done++
}

/* ---- the user side (src/ring/protocol.h) ---- */

/* mach_vm_reclaim_try_enter with *id == VM_RECLAIM_ID_NULL: ring::enter. */
inline enter(rg) {
  l = rlen;
  t = tail;
  h = head;
  CHECK(3, t >= h); /* the user's own tail is never below head */
  if
  :: t - h >= l -> printf("U: enter region %d -> full\n", rg) /* VM_RECLAIM_ID_NULL */
  :: else ->
     bytes++; /* counted before the entry is visible */
#if MUTANT == 4
     atomic { tail = t + 1; PUBLISH_REL }
#endif
     atomic { rstate[rg] = R_INRING; w0[t % l] = rg; WROTE(t % l) }
     w1[t % l] = rg;
#if MUTANT != 4
#if OLD_FENCES
     atomic { USER_FENCE; tail = t + 1; PUBLISH_REL } /* fence, then the release store */
#else
     atomic { tail = t + 1; PUBLISH_REL } /* release store, no fence (4240d9e) */
#endif
#endif
     atomic {
       ureg[t] = rg;
       ubelief[t] = B_ENTERED;
       printf("U: enter region %d -> id %d\n", rg, t)
     }
  fi
}

/* mach_vm_reclaim_try_cancel: ring::cancel. */
inline cancel(id) {
  printf("U: cancel id %d begins\n", id);
  h = head;
  if
  :: id < h ->
     printf("U: cancel id %d -> FREED (head %d)\n", id, h);
     CHECK(5, rstate[r] == R_RECLAIMED); /* P5: FREED/DEALLOCATED is true */
     ubelief[id] = B_GONE
  :: else ->
     l = rlen;
     t = tail;
     CHECK(5, id < t && l > 0 && t - id <= l); /* P5: no INVALID_ID for a held ID */
#if MUTANT == 2
     b = busy; /* no fence: the load floats above the store */
     atomic { tail = id; PUBLISH_LOCK }
#elif MUTANT == 8
     atomic { tail = id; PUBLISH_LOCK }
     b = 0;
#else
     atomic { tail = id; PUBLISH_LOCK }
     atomic { USER_FENCE; b = busy } /* seq_cst fence, then the load */
#endif
     if
     :: id < b ->
        atomic { tail = t; PUBLISH_REL }
        atomic {
          if
          :: id < head -> CHECK(5, rstate[r] == R_RECLAIMED) /* P5: FREED is true */
          :: else -> skip /* BUSY: the engine will reclaim it; the user lets go */
          fi;
          printf("U: cancel id %d -> BUSY or FREED (busy %d)\n", id, b);
          ubelief[id] = B_GONE
        }
     :: else ->
        e0 = w0[id % l];
        e1 = w1[id % l];
        /* (the real code traps on a mismatch: a caller bug) */
        CHECK(2, e0 == r && e1 == r);
        atomic {
          CHECK2(1, 5, rstate[r] == R_INRING); /* P1, P5: UNRECLAIMED is true now */
          rstate[r] = R_USER;            /* ...and must stay true: the engine may not reclaim it */
          w0[id % l] = 0;
          WROTE(id % l)
        }
        w1[id % l] = 0;
#if OLD_FENCES
        atomic { USER_FENCE; tail = t; PUBLISH_REL }
#else
        atomic { tail = t; PUBLISH_REL } /* release store of the restored tail */
#endif
        bytes--;
        ubelief[id] = B_TAKEN;
        printf("U: cancel id %d -> UNRECLAIMED\n", id)
     fi
  fi
}

/* mach_vm_reclaim_try_enter with a non-null ID: ring::reenter. The region
   that goes back is the one cancelled from that ID. */
inline reenter(id) {
  printf("U: reenter id %d begins\n", id);
  CHECK(4, rstate[r] == R_USER);
  l = rlen;
  t = tail;
#if MUTANT == 9
  /* The order before commit 33d8b8a: the distance to the tail first. */
  if
  :: id >= t || l == 0 || t - id > l ->
     printf("U: reenter id %d -> INVALID_ID (tail %d, len %d, head %d)\n", id, t, l, head);
     CHECK(5, false) /* P5: INVALID_ID for a held ID */
  :: else -> skip
  fi;
  h = head;
  if
  :: id < h ->
#else
  if
  :: id >= t || l == 0 -> CHECK(5, false) /* P5: INVALID_ID for a held ID */
  :: else -> skip
  fi;
  h = head;
  if
  :: id < h ->
#endif
     ubelief[id] = B_GONE; /* VM_RECLAIM_ID_NULL: the slot is gone, the region stays ours */
     printf("U: reenter id %d -> NULL (reclaimed)\n", id)
  :: id >= h && t - id > l ->
     CHECK(5, false) /* P5: INVALID_ID ("only with corrupted indices") for a held ID */
  :: id >= h && t - id <= l ->
     atomic { tail = id; PUBLISH_LOCK }
     atomic { USER_FENCE; b = busy } /* seq_cst fence, then the load */
     if
     :: id < b ->
        atomic { tail = t; PUBLISH_REL }
        ubelief[id] = B_GONE; /* VM_RECLAIM_ID_NULL: the engine owns the slot */
        printf("U: reenter id %d -> NULL (busy %d)\n", id, b)
     :: else ->
        e0 = w0[id % l];
        e1 = w1[id % l];
        if
        :: e0 != 0 || e1 != 0 ->
           atomic { tail = t; PUBLISH_REL }
           CHECK(4, false) /* P4: a live entry in the slot of a cancelled ID */
        :: else ->
           bytes++;
           atomic {
             CHECK(4, w0[id % l] == 0 && w1[id % l] == 0); /* P4: nothing live is overwritten */
             rstate[r] = R_INRING;
             w0[id % l] = r;
             WROTE(id % l)
           }
           w1[id % l] = r;
#if OLD_FENCES
           atomic { USER_FENCE; tail = t; PUBLISH_REL }
#else
           atomic { tail = t; PUBLISH_REL } /* release store of the restored tail */
#endif
           ubelief[id] = B_ENTERED;
           printf("U: reenter id %d -> region %d back in the ring\n", id, r)
        fi
     fi
  fi
}

/* mach_vm_reclaim_query_state: ring::query. Racy by nature; each answer is
   true at the moment of the read it rests on. */
inline query(id) {
  h = head;
  if
  :: id < h -> CHECK(5, rstate[r] == R_RECLAIMED) /* P5 */
  :: else ->
     atomic {
       b = busy;
       CHECK(5, id < b || rstate[r] != R_RECLAIMED) /* P5: UNRECLAIMED is true at this read */
     }
     if
     :: id < b ->
        h = head;
        CHECK(5, id >= h || rstate[r] == R_RECLAIMED) /* P5 */
     :: else -> skip
     fi
  fi
}

/* mach_vm_reclaim_ring_resize: Engine::resize, on the user's thread. */
inline resize(newlen) {
  lock();
#if MUTANT != 6
  reclaim(INF, 0);
#endif
  h = head;
  t = tail;
  if
#if MUTANT != 6
  :: h != t -> CHECK(6, false) /* RESOURCE_SHORTAGE: cannot happen without a concurrent enter */
#endif
  :: else ->
     /* Slots past the old length keep what they held: the worst case (the
        real code discards those pages only when whole pages go away). */
     elen = newlen;
     rlen = newlen;
     printf("U: resize to %d\n", newlen)
  fi;
  settle();
  unlock()
}

/* Chooses any ID the user believes is in state `want` (MAXID: none), and
   its region. */
inline pick(want) {
  atomic {
    id = 0;
    do
    :: id < MAXID && ubelief[id] == want -> break
    :: id < MAXID -> id++
    :: id >= MAXID -> break
    od;
    if
    :: id < MAXID -> r = ureg[id]
    :: else -> skip
    fi
  }
}

proctype User() {
  byte l, t, h, b, e0, e1, r, id, op, nextreg;
  byte eh, eb, et, k, i, consumed, entries, rounds, s, want, cb;
  bit aborted, whole;
  byte c0[CHUNK];
  byte c1[CHUNK];
  byte ureg[MAXID];    /* the region the user entered under each ID */
  byte ubelief[MAXID]; /* what the user believes about each ID */
  nextreg = 1;
  do
  :: op < NOPS ->
     if
     :: nextreg <= NREG -> enter(nextreg); nextreg++
     :: pick(B_ENTERED);
        if
        :: id < MAXID -> cancel(id)
        :: else -> skip
        fi
     :: pick(B_TAKEN);
        if
        :: id < MAXID -> reenter(id)
        :: else -> skip
        fi
     :: pick(B_ENTERED);
        if
        :: id < MAXID -> query(id)
        :: else -> skip
        fi
#if RESIZE_TO > 0
     :: resize(RESIZE_TO)
#endif
     fi;
     atomic { op++; l = 0; t = 0; h = 0; b = 0; e0 = 0; e1 = 0; r = 0; id = 0; aborted = 0 }
progress_user:
     skip
  :: else -> break
  od;
  done++
}

init {
  byte eh, eb, et, k, i, consumed, entries, rounds, s, want, cb, n, rg;
  bit aborted, whole;
  byte c0[CHUNK];
  byte c1[CHUNK];
  atomic {
    run User();
    do
    :: n < NENGINES -> run Reclaimer(NRECLAIM); n++
    :: else -> break
    od
  }
  /* P6: once everyone has stopped, a drain leaves nothing behind. */
  done == NENGINES + 1;
  reclaim(INF, 0);
  settle();
  rg = 1;
  do
  :: rg <= NREG ->
     CHECK(6, rstate[rg] != R_INRING);
     CHECK(6, reclaimed_times[rg] <= 1);
     rg++
  :: else -> break
  od;
  CHECK(6, head == tail && busy == head);
  CHECK(6, bytes == 0)
}

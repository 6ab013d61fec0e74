#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/ (and the regression inputs in
fuzz/regressions/) from readable programs.

The harnesses decode their input with libFuzzer's FuzzedDataProvider, whose
ConsumeIntegralInRange reads bytes from the end of the input, most
significant first. Each program below lists the values a harness consumes, in
order; `encode` lays them out so that the harness reads them back. The
decoding order is the harness's (api_sequence_fuzzer.cpp,
hostile_ring_fuzzer.cpp): keep the two in step. VMRECLAIM_FUZZ_TRACE=1 on a
fuzzer run shows what an input decodes to.

Usage: fuzz/make_seeds.py [output root, default: the directory of this script]
"""
import os
import sys

PAGE = 4096
U64 = (1 << 64) - 1


class Program:
    def __init__(self):
        self.consumed = []  # bytes in the order the harness consumes them

    def int(self, lo, hi, value):
        assert lo <= value <= hi, (lo, hi, value)
        span, v = hi - lo, value - lo
        n = 0
        while n < 8 and (span >> (8 * n)) > 0:
            n += 1
        self.consumed += list(v.to_bytes(n, "big")) if n else []
        return self

    def bool(self, b):
        self.consumed.append(1 if b else 0)
        return self

    def u64(self, value):
        self.consumed += list((value & U64).to_bytes(8, "big"))
        return self

    def encode(self):
        return bytes(reversed(self.consumed))


# ---- api_sequence_fuzzer ----
A_ENTER, A_REENTER, A_CANCEL, A_QUERY, A_FLUSH, A_DRAIN, A_TRIM, A_RESIZE, A_CLOCK, A_UPDATE, A_SAMPLE = (
    0, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12)


class Api(Program):
    """Mirrors the harness's model closely enough to pick IDs."""

    def __init__(self, length, level, chunk):
        super().__init__()
        self.len = length
        self.ids = []  # 'live', 'cancelled', 'reclaimed'
        self.sizes = []
        self.head = 0
        self.bytes = 0
        self.int(1, 9, length).int(0, 3, level).int(1, 17, chunk)

    def op(self, code):
        return self.int(0, 12, code)

    def region(self, size=PAGE, free=True, offset=0):
        return self.int(0, 2 * PAGE, offset).bool(True).int(1, 4 * PAGE, size).bool(free)

    def enter(self, size=PAGE, free=True, offset=0):
        self.op(A_ENTER).region(size, free, offset)
        if len(self.ids) - self.head < self.len:
            self.ids.append("live")
            self.sizes.append(size)
            self.bytes += size
        return self

    def pick(self, want, target):
        cands = [i for i, s in enumerate(self.ids) if s == want]
        if target in cands:
            self.int(0, 7, 1).int(0, len(cands) - 1, cands.index(target))
            return self
        if cands:
            self.int(0, 7, 0)
        if target < len(self.ids):
            self.bool(True).int(0, len(self.ids) - 1, target)
        else:
            if self.ids:
                self.bool(False)
            self.int(0, 3, target - len(self.ids))
        return self

    def cancel(self, target):
        self.op(A_CANCEL).pick("live", target)
        if target < len(self.ids) and self.ids[target] == "cancelled":
            return self
        if target >= len(self.ids):
            self.region()
        elif target >= self.head:
            self.ids[target] = "cancelled"
            self.bytes -= self.sizes[target]
        return self

    def reenter(self, target, same_region=True):
        self.op(A_REENTER).pick("cancelled", target)
        if target < len(self.ids):
            self.bool(same_region)
            if not same_region:
                self.region()
        else:
            self.region()
        if target < len(self.ids) and target >= self.head and self.ids[target] == "cancelled":
            self.ids[target] = "live"
            self.bytes += self.sizes[target]  # (a new region is one page)
        return self

    def query(self, target, live=True):
        return self.op(A_QUERY).bool(live).pick("live" if live else "reclaimed", target)

    def consume(self, to):
        for i in range(self.head, to):
            if self.ids[i] == "live":
                self.ids[i] = "reclaimed"
                self.bytes -= self.sizes[i]
        self.head = to

    def flush(self, n):
        self.op(A_FLUSH).int(1, 2 * self.len + 2, n)
        self.consume(min(len(self.ids), self.head + n))
        return self

    def drain(self):
        self.op(A_DRAIN)
        self.consume(len(self.ids))
        return self

    def trim(self, target):
        self.op(A_TRIM).int(0, self.bytes + PAGE, target)
        i, got = self.head, 0
        while i < len(self.ids) and got < target:
            if self.ids[i] == "live":
                got += self.sizes[i]
            i += 1
        self.consume(i)
        return self

    def resize(self, n):
        self.op(A_RESIZE).int(1, 300, n)
        self.consume(len(self.ids))
        self.len = n
        return self

    def clock(self, kind, footprint=None, amount=0):
        self.op(A_CLOCK).int(0, 5, kind)
        if kind == 5:
            self.int(0, 10**12, amount)
        if footprint is None:
            return self.bool(False)
        return self.bool(True).bool(True).int(0, 1 << 36, footprint)

    def update(self):
        return self.op(A_UPDATE)

    def sample(self):
        return self.op(A_SAMPLE)


def api_seeds():
    seeds = {}
    p = Api(4, 0, 2)
    p.enter().enter(size=3 * PAGE, free=False, offset=17).enter().cancel(1).query(0).query(1).flush(2)
    p.reenter(1).cancel(0).enter().query(0, live=False).drain()
    seeds["basic_enter_cancel_flush"] = p

    p = Api(2, 0, 1)
    for _ in range(3):
        p.enter()
    p.cancel(0).cancel(1).reenter(1).reenter(0).flush(1).enter().enter().cancel(3).flush(4).reenter(3).drain()
    seeds["full_ring_reenter"] = p

    p = Api(3, 0, 4)
    p.enter().enter(free=False).resize(300)
    for _ in range(6):
        p.enter(size=PAGE + 1)
    p.cancel(4).resize(2).enter().enter().enter().reenter(4).drain()
    seeds["resize_grow_shrink"] = p

    p = Api(6, 1, 3)
    for i in range(6):
        p.enter(size=2 * PAGE, free=i % 2 == 0)
    p.clock(2, footprint=1 << 20).update().clock(3).update().cancel(5).clock(1).update().sample()
    p.clock(4).update().clock(5, amount=7 * 10**9).sample()
    seeds["sampling_warning"] = p

    p = Api(5, 3, 2)
    for i in range(5):
        p.enter(size=PAGE * (i % 4 + 1))
    p.cancel(2).update().enter().update().sample()
    seeds["sampling_critical"] = p

    p = Api(8, 0, 16)
    for i in range(8):
        p.enter(size=PAGE // 2 + i)
    p.cancel(0).cancel(3).trim(PAGE).trim(3 * PAGE).trim(0).flush(1).drain()
    seeds["trim_by_bytes"] = p
    return seeds


def api_regressions():
    # Finding F1 (fixed in 33d8b8a): an ID cancelled, passed by the engine and
    # then left more than a ring's length behind the tail came back from
    # re-enter as INVALID_ID instead of VM_RECLAIM_ID_NULL.
    p = Api(1, 0, 2)
    p.enter().cancel(0).flush(1).enter().reenter(0)
    return {"f1_reenter_old_id": p}


# ---- hostile_ring_fuzzer ----
H_HEADER, H_ENTRY, H_ENTER, H_KERNEL, H_PROTECT = 0, 3, 5, 7, 8
H_FLUSH, H_DRAIN, H_TRIM, H_RESIZE, H_UPDATE, H_SAMPLE, H_CLOCK = 9, 10, 11, 12, 13, 14, 15
# Header words (8 bytes each): 0 len|max_len, 1 last_sample_abs, 2 deadline,
# 3 ceiling, 4 reclaimable_bytes, 5 min, 6 head, 7 busy, 8 tail, 9 user_ops.
W_CEILING, W_BYTES, W_MIN, W_HEAD, W_BUSY, W_TAIL = 3, 4, 5, 6, 7, 8
# The hostile harness's ring reservation: 80-byte header + 300 entries of 16 bytes, in pages.
RING_BYTES = (80 + 300 * 16 + PAGE - 1) // PAGE * PAGE


class Hostile(Program):
    def __init__(self, length, level, chunk):
        super().__init__()
        self.len = length
        self.int(1, 9, length).int(0, 3, level).int(1, 17, chunk)

    def op(self, code):
        return self.int(0, 15, code)

    def header(self, word, kind, arg=None):
        # kind: 0 zero, 1 max-arg, 2 head+arg, 3 head-arg, 4 tail+arg, 5 tail-arg, 6 small, 7 1<<arg, 9 raw
        self.op(H_HEADER).int(0, 9, word).int(0, 9, kind)
        if kind == 1:
            self.int(0, 20, arg)
        elif kind in (2, 4):
            self.int(0, 20, arg)
        elif kind in (3, 5):
            self.int(1, 20, arg)
        elif kind == 6:
            self.int(0, 1000, arg)
        elif kind == 7:
            self.int(0, 63, arg)
        elif kind >= 8:
            self.u64(arg)
        return self

    def address(self, page_index=0, offset=0, kind=3):
        # kind: 0 null, 1 near the top, 2 raw, 3-4 the fake pages, 5 inside the ring (offset)
        self.int(0, 5, kind)
        if kind == 1:
            self.int(0, 2 * PAGE, offset)
        elif kind == 2:
            self.u64(offset)
        elif kind == 5:
            self.int(0, RING_BYTES - 1, offset)
        elif kind >= 3:
            self.int(0, 15, page_index).bool(offset == 0)
            if offset:
                self.int(1, PAGE - 1, offset)

    def entry(self, slot, page_index, size_kind, size, action_kind, action=0, offset=0, addr_kind=3):
        self.op(H_ENTRY).int(0, 250, slot).bool(True)
        self.address(page_index, offset, addr_kind)
        self.int(0, 3, size_kind)
        if size_kind == 2:
            self.int(0, (1 << 32) - 1, size)
        elif size_kind == 3:
            self.int(1, 4 * PAGE, size)
        self.int(0, 3, action_kind)
        if action_kind >= 2:
            self.int(0, 255, action)
        return self

    def enter(self, page_index, size=PAGE, free=True, offset=0, addr_kind=3):
        self.op(H_ENTER).int(1, 4 * PAGE, size)
        self.address(page_index, offset, addr_kind)
        return self.int(0, 3, 0 if free else 1)

    def kernel(self, which, page_index, pages):
        return self.op(H_KERNEL).int(0, 2, which).int(0, 15, page_index).int(0, 4, pages)

    def protect(self):
        return self.op(H_PROTECT)

    def flush(self, n):
        return self.op(H_FLUSH).int(1, 2 * self.len + 2, n)

    def drain(self):
        return self.op(H_DRAIN)

    def trim(self, target=None):
        self.op(H_TRIM)
        return self.bool(False) if target is None else self.bool(True).u64(target)

    def resize(self, n):
        self.op(H_RESIZE).int(1, 300, n)
        self.len = n
        return self

    def update(self):
        return self.op(H_UPDATE)

    def sample(self):
        return self.op(H_SAMPLE)

    def clock(self, shift, amount, footprint=None):
        self.op(H_CLOCK).int(0, 45, shift).int(0, (1 << shift), amount)
        return self.bool(False) if footprint is None else self.bool(True).int(0, 1 << 40, footprint)


def hostile_seeds():
    s = {}
    p = Hostile(4, 0, 2)
    p.enter(0).enter(1, free=False).enter(2).flush(1).drain()
    s["well_formed"] = p

    p = Hostile(4, 0, 2)
    p.enter(0).enter(1).header(W_BUSY, 2, 7).flush(2).header(W_BUSY, 3, 1).drain()
    s["busy_corrupted"] = p

    p = Hostile(4, 0, 2)
    p.header(W_HEAD, 6, 5).header(W_BUSY, 6, 5).header(W_TAIL, 6, 3).flush(3).drain().resize(6)
    s["tail_below_head"] = p

    # head = busy = 5, tail = 1: backwards for good (RECLAIM_INDEX_FAILURE after the wait).
    p = Hostile(4, 0, 2)
    p.header(W_HEAD, 6, 5).header(W_BUSY, 6, 5).header(W_TAIL, 6, 1).drain()
    s["indices_backwards"] = p

    # A tail more than a ring's length below head: RECLAIM_INDEX_FAILURE at once.
    p = Hostile(4, 0, 2)
    p.header(W_HEAD, 6, 500).header(W_BUSY, 6, 500).header(W_TAIL, 6, 3).flush(1)
    s["tail_far_below_head"] = p

    # A FREE entry over a hole (FREE_GAP, none of it released) between two good ones.
    p = Hostile(4, 0, 4)
    p.kernel(0, 2, 1).enter(0).enter(1, size=3 * PAGE).enter(6).drain()
    s["free_gap"] = p

    # Entries over the ring itself, FREE and DEALLOCATE (RECLAIM_ENGINE_OVERLAP).
    p = Hostile(4, 0, 4)
    p.enter(0, addr_kind=5, offset=100).enter(0, free=False, addr_kind=5, offset=PAGE).enter(3).drain()
    s["entry_over_ring"] = p

    p = Hostile(4, 0, 4)
    p.enter(0).header(W_TAIL, 4, 19).drain().header(W_TAIL, 1, 0).flush(2)
    s["tail_beyond_capacity"] = p

    p = Hostile(4, 0, 4)
    p.enter(0).enter(1).entry(1, 3, 3, PAGE, 2, action=7).header(W_TAIL, 4, 1).entry(2, 0, 0, 0, 0).drain()
    s["unknown_action_and_zero_size"] = p

    p = Hostile(4, 0, 4)
    p.kernel(0, 2, 2).enter(2, free=False).enter(5, free=False).kernel(1, 5, 1).enter(5, free=False, offset=9)
    p.kernel(2, 8, 1).enter(8).drain()
    s["gap_munmap_madvise_failures"] = p

    p = Hostile(4, 0, 2)
    p.enter(0).protect().flush(1).protect().update().protect().sample().drain()
    s["ring_inaccessible"] = p

    p = Hostile(4, 0, 2)
    p.enter(0, size=3 * PAGE).enter(1).header(W_BYTES, 6, 10).drain()
    s["accounting_too_few_bytes"] = p

    p = Hostile(4, 0, 3)
    p.entry(0, 0, 3, 2 * PAGE, 0, addr_kind=1, offset=100).entry(1, 0, 1, 0, 1, addr_kind=2, offset=U64 - 5)
    p.header(W_TAIL, 4, 2).drain()
    s["ranges_that_wrap"] = p

    p = Hostile(2, 1, 2)
    p.enter(0).enter(1).resize(300).enter(3).header(W_HEAD, 2, 3).header(W_BUSY, 2, 3).resize(1).drain()
    s["resize_hostile"] = p

    p = Hostile(5, 3, 2)
    p.enter(0).enter(1).header(W_BYTES, 0).clock(30, 1 << 30, footprint=1 << 30).update().sample()
    p.header(W_MIN, 9, U64).header(W_CEILING, 6, 1).update()
    s["sampling_hostile"] = p

    p = Hostile(3, 0, 2)
    p.header(W_HEAD, 1, 2).header(W_BUSY, 1, 2).header(W_TAIL, 1, 2).enter(0).enter(1).drain()
    s["indices_near_wrap"] = p
    return s


def write(root, kind, name, prog):
    d = os.path.join(root, kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(prog.encode())


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    for name, p in api_seeds().items():
        write(root, "corpus/api_sequence", name, p)
    for name, p in api_regressions().items():
        write(root, "corpus/api_sequence", name, p)
        write(root, "regressions/api_sequence", name, p)
    for name, p in hostile_seeds().items():
        write(root, "corpus/hostile_ring", name, p)


if __name__ == "__main__":
    main()

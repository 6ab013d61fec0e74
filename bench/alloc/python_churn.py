"""CPython churning large objects (docs/benchmarks.md, "Peak memory"): 8 slots
of 1-50 MB objects, one replaced per step, made four ways so that every
allocation path of the interpreter shows: bytes(n) (calloc), b"x" * n
(malloc and a fill), a bytearray grown with += (realloc growth) and a list
grown with += (realloc growth of its item array). Run it under an allocator
with LD_PRELOAD; it prints a checksum so runs can be compared.

  python3 python_churn.py [STEPS] [SEED]
"""
import random
import sys

MB = 1 << 20


def make(rnd, kind, n):
    if kind == 0:
        return bytes(n)
    if kind == 1:
        return b"x" * n
    if kind == 2:
        ba = bytearray()
        chunk = b"y" * (256 * 1024)
        while len(ba) < n:
            ba += chunk
        return ba
    lst = []
    piece = [None] * 32768
    while len(lst) * 8 < n:
        lst += piece
    return lst


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    rnd = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    alive = [None] * 8
    total = 0
    for _ in range(steps):
        slot = rnd.randrange(len(alive))
        alive[slot] = None
        obj = make(rnd, rnd.randrange(4), rnd.randint(1 * MB, 50 * MB))
        total += len(obj)
        alive[slot] = obj
    print(total)


if __name__ == "__main__":
    main()

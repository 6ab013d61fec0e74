#!/usr/bin/env python3
"""The realloc-heavy large-block churn (docs/benchmarks.md, "Realloc-heavy
large churn"): two threads keep 8 blocks each of 192 KiB-8 MiB and replace a
random one per operation; one operation in ten resizes a block with realloc
instead (alloc_churn --realloc-every 10). Every allocator runs the same
binary, preloaded: glibc, jemalloc, tcmalloc, mimalloc (Debian's libraries)
and the layer. Runs are interleaved (all allocators once, then again), and
the table gives medians of CPU seconds (user + system of the churn itself),
wall seconds and minor faults. With --settle, the layer's give-back after the
churn stops is measured too (alloc_churn settle: seconds until RssAnon is
back within 16 MiB of the start, on its own).

  bench/alloc/realloc_churn.py --churn BUILD/bench/alloc/alloc_churn \\
      --layer BUILD/alloc/libvmreclaim-malloc.so [--before OLD.so] [--reps 3] \\
      [--ops 2000] [--every 10] [--csv FILE] [--settle]
--before adds a row for another build of the layer (e.g. an earlier commit).
"""
import argparse
import csv
import os
import re
import statistics
import subprocess
import sys

LIBDIR = "/usr/lib/x86_64-linux-gnu"


def allocators(layer, before):
    out = [("glibc", None)]
    for name, lib in (("jemalloc", "libjemalloc.so.2"), ("tcmalloc", "libtcmalloc_minimal.so.4"),
                      ("mimalloc", "libmimalloc.so.2")):
        path = os.path.join(LIBDIR, lib)
        if os.path.exists(path):
            out.append((name, path))
        else:
            print(f"{name}: {path} is not installed, left out", file=sys.stderr)
    if before:
        out.append(("layer (before)", before))
    out.append(("layer", layer))
    return out


def env_for(preload):
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("VMRECLAIM_")}
    if preload:
        env["LD_PRELOAD"] = preload
    return env


def kv(text):
    return {m.group(1): m.group(2) for m in re.finditer(r"^(\w+)=(\S+)$", text, re.M)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--churn", required=True)
    ap.add_argument("--layer", required=True)
    ap.add_argument("--before", help="another build of the layer, for a before/after row")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--ops", type=int, default=2000, help="operations per thread")
    ap.add_argument("--every", type=int, default=10, help="one realloc in this many operations")
    ap.add_argument("--csv", help="write every run here")
    ap.add_argument("--settle", action="store_true", help="also time the layer's give-back after the churn")
    args = ap.parse_args()
    for path in (args.churn, args.layer):
        if not os.path.exists(path):
            sys.exit(f"{path}: not found (build alloc_churn and vmreclaim_malloc first)")

    allocs = allocators(args.layer, args.before)
    cmd = [args.churn, "churn", "--ops", str(args.ops), "--realloc-every", str(args.every)]
    runs = {name: [] for name, _ in allocs}
    for rep in range(args.reps):
        for name, preload in allocs:
            r = subprocess.run(cmd, env=env_for(preload), capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"{name}: {' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
            v = kv(r.stdout)
            runs[name].append({"cpu_s": float(v["cpu_s"]), "wall_s": float(v["wall_s"]),
                               "minor_faults": int(v["minor_faults"]),
                               "rss_after_free_mib": int(v["rss_after_free_kb"]) / 1024})
            print(f"rep {rep} {name}: {runs[name][-1]}", file=sys.stderr)

    settle = []
    if args.settle:
        for _ in range(args.reps):
            r = subprocess.run([args.churn, "settle", "--ops", "500", "--idle", "40",
                                "--realloc-every", str(args.every)],
                               env=env_for(args.layer), capture_output=True, text=True, check=True)
            settle.append(float(kv(r.stdout)["settle_s"]))

    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["allocator", "rep", "cpu_s", "wall_s", "minor_faults", "rss_after_free_mib"])
            for name, rs in runs.items():
                for i, r in enumerate(rs):
                    w.writerow([name, i, r["cpu_s"], r["wall_s"], r["minor_faults"], f"{r['rss_after_free_mib']:.1f}"])

    med = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in runs.items()}
    peers = [n for n, _ in allocs if not n.startswith("layer")]
    fastest = min(peers, key=lambda n: med[n]["cpu_s"])
    fewest = min(peers, key=lambda n: med[n]["minor_faults"])
    print(f"Realloc-heavy churn: {args.ops} operations x 2 threads, 8 blocks each of 192 KiB-8 MiB, "
          f"one realloc in {args.every}; medians of {args.reps}\n")
    print("| allocator | CPU (s) | wall (s) | minor faults | RssAnon after free (MiB) |")
    print("|---|---|---|---|---|")
    for n, _ in allocs:
        m = med[n]
        print(f"| {n} | {m['cpu_s']:.2f} | {m['wall_s']:.2f} | {m['minor_faults']:.0f} | {m['rss_after_free_mib']:.0f} |")
    m = med["layer"]
    print(f"\nlayer: {m['cpu_s'] / med[fastest]['cpu_s']:.2f}x the CPU of the fastest peer ({fastest}), "
          f"{m['minor_faults'] / med[fewest]['minor_faults']:.2f}x the faults of the fewest ({fewest})")
    if settle:
        print(f"layer give-back after the churn (settle, s): {' '.join(f'{s:.1f}' for s in settle)}")


if __name__ == "__main__":
    main()

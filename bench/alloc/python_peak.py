#!/usr/bin/env python3
"""Peak memory of CPython churning large objects (python_churn.py) under
glibc, optionally the other allocators, and the layer: CPU seconds (user +
system, from wait4) and peak RSS (ru_maxrss), medians of interleaved runs.

  bench/alloc/python_peak.py --layer BUILD/alloc/libvmreclaim-malloc.so \\
      [--before OLD.so] [--python PYTHON] [--steps 120] [--reps 3] [--peers]
"""
import argparse
import os
import statistics
import subprocess
import sys

LIBDIR = "/usr/lib/x86_64-linux-gnu"
HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layer", required=True)
    ap.add_argument("--before", help="another build of the layer, for a before/after row")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--peers", action="store_true", help="jemalloc, tcmalloc and mimalloc too")
    args = ap.parse_args()

    configs = [("glibc", None)]
    if args.peers:
        configs += [("jemalloc", f"{LIBDIR}/libjemalloc.so.2"), ("tcmalloc", f"{LIBDIR}/libtcmalloc_minimal.so.4"),
                    ("mimalloc", f"{LIBDIR}/libmimalloc.so.2")]
    if args.before:
        configs.append(("layer (before)", args.before))
    configs.append(("layer", args.layer))
    cmd = [args.python, os.path.join(HERE, "python_churn.py"), str(args.steps)]
    runs = {n: [] for n, _ in configs}
    outputs = set()
    for rep in range(args.reps):
        for name, preload in configs:
            env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("VMRECLAIM_")}
            if preload:
                env["LD_PRELOAD"] = preload
            p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
            out = p.stdout.read()
            _, status, ru = os.wait4(p.pid, 0)
            if status != 0:
                sys.exit(f"{name}: {cmd} failed ({status})")
            outputs.add(out.strip())
            runs[name].append((ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, ru.ru_minflt))
            print(f"rep {rep} {name}: {runs[name][-1][0]:.2f} s CPU, {runs[name][-1][1]:.0f} MiB peak", file=sys.stderr)
    if len(outputs) != 1:
        sys.exit(f"the runs disagree: {outputs}")
    print(f"CPython ({args.python}) churning 1-50 MB objects, 8 alive, {args.steps} steps; medians of {args.reps}\n")
    print("| allocator | CPU (s) | peak RSS (MiB) | minor faults |")
    print("|---|---|---|---|")
    base = statistics.median(r[1] for r in runs["glibc"])
    for name, _ in configs:
        cpu = statistics.median(r[0] for r in runs[name])
        peak = statistics.median(r[1] for r in runs[name])
        faults = statistics.median(r[2] for r in runs[name])
        print(f"| {name} | {cpu:.2f} | {peak:.0f} ({peak / base:.2f}x glibc) | {faults:.0f} |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The allocator comparison: glibc (default and a fixed mmap threshold),
jemalloc, tcmalloc, mimalloc and libvmreclaim-malloc.so, each preloaded into
the same programs. Writes CSV and PNG files to --out and prints a Markdown
table. Run through run.sh, which builds what it needs."""
import argparse
import csv
import os
import re
import statistics
import subprocess
import sys
import time

LIBDIR = "/usr/lib/x86_64-linux-gnu"
KIB = 1024


def allocators(layer):
    return [
        ("glibc", {}),
        ("glibc-mmap128k", {"MALLOC_MMAP_THRESHOLD_": "131072"}),
        ("jemalloc", {"LD_PRELOAD": f"{LIBDIR}/libjemalloc.so.2"}),
        ("tcmalloc", {"LD_PRELOAD": f"{LIBDIR}/libtcmalloc_minimal.so.4"}),
        ("mimalloc", {"LD_PRELOAD": f"{LIBDIR}/libmimalloc.so.2"}),
        ("vmreclaim", {"LD_PRELOAD": layer}),
    ]


def env_with(extra):
    env = dict(os.environ)
    for k in ("LD_PRELOAD", "MALLOC_MMAP_THRESHOLD_"):
        env.pop(k, None)
    env.update(extra)
    return env


def parse_kv(text):
    out = {}
    for line in text.splitlines():
        for m in re.finditer(r"(\w+)=(\S+)", line):
            out[m.group(1)] = m.group(2)
    return out


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def sampled_run(cmd, env, interval):
    """Runs cmd, sampling its RssAnon every `interval` s. Returns (stdout, samples[(t, kb)])."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    samples = []
    while p.poll() is None:
        kb = rss_kb(p.pid)
        if kb is not None:
            samples.append((time.monotonic() - t0, kb))
        time.sleep(interval)
    out = p.stdout.read()
    if p.returncode != 0:
        sys.exit(f"{cmd} failed with {p.returncode}")
    return out, samples


def integral_mib_s(samples):
    total = 0.0
    for (t0, a), (t1, b) in zip(samples, samples[1:]):
        total += (t1 - t0) * (a + b) / 2 / KIB
    return total


def churn_runs(churn, env, ops, repeat):
    runs = []
    for _ in range(repeat):
        out = subprocess.run([churn, "churn", "--ops", str(ops)], env=env, capture_output=True, text=True, check=True)
        runs.append(parse_kv(out.stdout))
    return runs


def perf_syscalls(churn, env, ops):
    events = ["raw_syscalls:sys_enter", "syscalls:sys_enter_mmap", "syscalls:sys_enter_munmap",
              "syscalls:sys_enter_madvise", "syscalls:sys_enter_mremap", "syscalls:sys_enter_process_madvise"]
    cmd = ["perf", "stat", "-x", ",", "-e", ",".join(events), "--", "env"]
    cmd += [f"{k}={v}" for k, v in env.items() if k in ("LD_PRELOAD", "MALLOC_MMAP_THRESHOLD_")]
    cmd += [churn, "churn", "--ops", str(ops)]
    base = env_with({})
    r = subprocess.run(cmd, env=base, capture_output=True, text=True)
    counts = {}
    for line in r.stderr.splitlines():
        parts = line.split(",")
        if len(parts) > 3 and parts[2].startswith(("raw_syscalls", "syscalls")):
            name = parts[2].split(":")[1].replace("sys_enter_", "")
            counts["syscalls" if name == "sys_enter" else name] = int(parts[0]) if parts[0].isdigit() else None
    return counts


def real_programs(workdir):
    data = os.path.join(workdir, "xz-input")
    if not os.path.exists(data):
        import random
        rnd = random.Random(5)
        words = [bytes(rnd.choice(b"abcdefghijklmnop") for _ in range(rnd.randint(3, 9))) for _ in range(5000)]
        with open(data, "wb") as f:
            for _ in range(4 * 1024 * 1024 // 64):
                f.write(b" ".join(rnd.choice(words) for _ in range(10)) + b"\n")
    py = ("import hashlib\n"
          "h = hashlib.sha256()\n"
          "for r in range(60):\n"
          "    xs = [bytes([i % 251]) * (150000 + 60000 * ((i * 7 + r) % 40)) for i in range(24)]\n"
          "    big = [list(range(40000 + 3000 * (r % 20))) for _ in range(4)]\n"
          "    for x in xs: h.update(x[:64])\n"
          "    del xs, big\n"
          "print(h.hexdigest())\n")
    return [
        ("python3 large objects", ["/usr/bin/python3", "-c", py]),
        ("xz -6 -T2 (4 MiB of text)", ["xz", "-6", "-T2", "-c", "-k", data]),
    ]


def timed_child(cmd, env):
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit(f"{cmd} failed: {status}")
    return time.monotonic() - t0, ru.ru_utime + ru.ru_stime, ru.ru_minflt, ru.ru_maxrss


def median(xs):
    return sorted(xs)[len(xs) // 2]


def fmt(v, spec):
    return "—" if v is None else format(v, spec)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--churn", required=True)
    ap.add_argument("--layer", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true", help="shorter phases, one repeat")
    ap.add_argument("--ops", type=int, default=2000, help="churn operations per thread")
    ap.add_argument("--idle", type=float, default=45.0, help="idle phase, seconds (sampling period is 10 s)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    repeat = 1 if args.quick else 3
    idle = 8.0 if args.quick else args.idle
    busy = 2.0 if args.quick else 4.0
    allocs = allocators(args.layer)

    results = {name: {} for name, _ in allocs}
    # 1. Timed churn (median of `repeat`), then syscalls in a separate run.
    for name, extra in allocs:
        env = env_with(extra)
        runs = churn_runs(args.churn, env, args.ops, repeat)
        med = sorted(runs, key=lambda r: float(r["wall_s"]))[len(runs) // 2]
        results[name].update(wall_s=float(med["wall_s"]), ops_per_s=float(med["ops_per_s"]),
                             cpu_s=median([float(r["cpu_s"]) for r in runs]),
                             minor_faults=int(med["minor_faults"]),
                             rss_after_free_mib=int(med["rss_after_free_kb"]) / KIB)
        results[name].update(perf_syscalls(args.churn, extra, args.ops))
        print(f"churn {name}: {results[name]}", file=sys.stderr)

    # 2. Phased run, RssAnon sampled from outside.
    series = {}
    for name, extra in allocs:
        out, samples = sampled_run([args.churn, "phased", "--busy", str(busy), "--idle", str(idle)],
                                   env_with(extra), 0.05)
        kv = parse_kv(out)
        start = int(kv["rss_start_kb"])
        phases = {m.group(1): float(m.group(2)) for m in re.finditer(r"phase=(\w+) t=([\d.]+)", out)}
        series[name] = (samples, phases)
        # When RssAnon first came back within 16 MiB of the start, in each idle phase.
        def back_in(phase, until):
            for t, kb in samples:
                if phases[phase] <= t < until and kb <= start + 16 * KIB:
                    return t - phases[phase]
            return None
        back1 = back_in("idle1", phases["busy2"])
        back = back_in("idle2", float("inf"))
        results[name].update(peak_mib=max(kb for _, kb in samples) / KIB, integral_mib_s=integral_mib_s(samples),
                             end_idle1_mib=int(kv["rss_end_idle1_kb"]) / KIB,
                             end_idle2_mib=int(kv["rss_end_idle2_kb"]) / KIB, idle1_giveback_s=back1,
                             idle_giveback_s=back,
                             phased_ops=int(kv["ops"]))
        print(f"phased {name}: {results[name]}", file=sys.stderr)
    with open(os.path.join(args.out, "alloc-phased-rss.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["allocator", "t_s", "rss_anon_kib"])
        for name, (samples, _) in series.items():
            for t, kb in samples:
                w.writerow([name, f"{t:.3f}", kb])

    # 3. Give-back: on the allocator's own request, and on its own.
    for name, extra in allocs:
        kv = parse_kv(subprocess.run([args.churn, "giveback", "--ops", "500"], env=env_with(extra),
                                     capture_output=True, text=True, check=True).stdout)
        results[name].update(request=kv["request"], request_giveback_s=float(kv["giveback_s"]))
    pressure_cases = [(name, extra) for name, extra in allocs] + [
        ("vmreclaim (critical)", dict(allocs[-1][1], VMRECLAIM_PRESSURE="critical"))]
    for name, extra in pressure_cases:
        kv = parse_kv(subprocess.run([args.churn, "settle", "--ops", "500", "--idle", str(idle)], env=env_with(extra),
                                     capture_output=True, text=True, check=True).stdout)
        results.setdefault(name, {}).update(settle_s=float(kv["settle_s"]))

    # 4. Real programs that are not ours.
    programs = real_programs(args.out if not args.quick else "/tmp")
    real = []
    for label, cmd in programs:
        # Interleaved repetitions, medians: wall time on this VM jumps when the
        # host stalls it, CPU time does not.
        runs = {name: [] for name, _ in allocs}
        for _ in range(repeat):
            for name, extra in allocs:
                runs[name].append(timed_child(cmd, env_with(extra)))
        for name, _ in allocs:
            rs = runs[name]
            wall, cpu = median([r[0] for r in rs]), median([r[1] for r in rs])
            faults, maxrss = median([r[2] for r in rs]), median([r[3] for r in rs])
            real.append((label, name, wall, cpu, faults, maxrss / KIB))
            print(f"{label} {name}: {wall:.2f}s wall {cpu:.2f}s cpu {faults} faults {maxrss / KIB:.0f} MiB",
                  file=sys.stderr)
    xz_input = os.path.join(args.out, "xz-input")
    if os.path.exists(xz_input):
        os.unlink(xz_input)

    # CSV of everything per allocator, and of the real programs.
    keys = ["wall_s", "cpu_s", "ops_per_s", "minor_faults", "syscalls", "mmap", "munmap", "madvise", "mremap",
            "process_madvise", "peak_mib", "integral_mib_s", "rss_after_free_mib", "end_idle1_mib", "end_idle2_mib",
            "idle1_giveback_s", "idle_giveback_s", "request", "request_giveback_s", "settle_s"]
    with open(os.path.join(args.out, "alloc-summary.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["allocator"] + keys)
        for name, r in results.items():
            w.writerow([name] + [r.get(k, "") for k in keys])
    with open(os.path.join(args.out, "alloc-real-programs.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["program", "allocator", "wall_s", "cpu_s", "minor_faults", "max_rss_mib"])
        for row in real:
            w.writerow([row[0], row[1], f"{row[2]:.3f}", f"{row[3]:.3f}", row[4], f"{row[5]:.1f}"])

    # Markdown tables.
    names = [n for n, _ in allocs]
    def giveback(v):
        return fmt(v, ".1f") if v is not None else "not within " + str(idle)

    print("| allocator | churn time (s) | CPU (s) | ops/s | minor faults | syscalls | mmap | munmap | madvise | mremap "
          "| peak RssAnon (MiB) | RssAnon·s (MiB·s) | after free (MiB) | end of idle 1 (MiB) | end of idle 2 (MiB) "
          "| idle 1 give-back (s) | idle 2 give-back (s) | on request (s) | settle (s) |")
    print("|---" * 19 + "|")
    for n in names:
        r = results[n]
        print(f"| {n} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['ops_per_s']:.0f} | {r['minor_faults']} "
              f"| {fmt(r.get('syscalls'), 'd')} "
              f"| {fmt(r.get('mmap'), 'd')} | {fmt(r.get('munmap'), 'd')} | {fmt(r.get('madvise'), 'd')} "
              f"| {fmt(r.get('mremap'), 'd')} | {r['peak_mib']:.0f} | {r['integral_mib_s']:.0f} "
              f"| {r['rss_after_free_mib']:.0f} | {r['end_idle1_mib']:.0f} | {r['end_idle2_mib']:.0f} "
              f"| {giveback(r['idle1_giveback_s'])} | {giveback(r['idle_giveback_s'])} "
              f"| {r['request_giveback_s']:.3f} ({r['request']}) | {r['settle_s']:.2f} |")
    if "vmreclaim (critical)" in results:
        print(f"\nvmreclaim with VMRECLAIM_PRESSURE=critical: settle {results['vmreclaim (critical)']['settle_s']:.2f} s")
    print("\n| program | allocator | wall (s) | CPU (s) | minor faults | max RSS (MiB) |\n|---|---|---|---|---|---|")
    for row in real:
        print(f"| {row[0]} | {row[1]} | {row[2]:.2f} | {row[3]:.2f} | {row[4]} | {row[5]:.0f} |")

    # Plots.
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not available: no plots (apt-get install python3-matplotlib)", file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(10, 5))
    for name, (samples, phases) in series.items():
        ax.plot([t for t, _ in samples], [kb / KIB for _, kb in samples], label=name, linewidth=1.2)
    phases = series[names[-1]][1]
    for p in ("idle1", "busy2", "idle2"):
        ax.axvline(phases[p], color="grey", linestyle=":", linewidth=0.8)
        ax.text(phases[p], ax.get_ylim()[1] * 0.97, p, fontsize=8, color="grey")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("RssAnon (MiB)")
    ax.set_title("Phased large-block churn: busy, idle, busy, idle (sampling period 10 s)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "alloc-phased-rss.png"), dpi=110)

    fig, axes = plt.subplots(1, 4, figsize=(16, 4.5))
    for ax, key, title, log in zip(axes, ["wall_s", "minor_faults", "end_idle1_mib", "end_idle2_mib"],
                                   ["churn time (s, log)", "minor faults (log)", "RssAnon at end of idle 1 (MiB)",
                                    "RssAnon at end of idle 2 (MiB)"], [True, True, False, False]):
        ax.bar(names, [results[n][key] for n in names], color="tab:blue")
        ax.set_title(title)
        if log:
            ax.set_yscale("log")
        ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "alloc-churn.png"), dpi=110)


if __name__ == "__main__":
    main()

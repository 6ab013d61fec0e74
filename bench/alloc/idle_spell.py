#!/usr/bin/env python3
"""RSS over an idle spell after a large-block churn (docs/benchmarks.md, "Idle
spell after a churn"): alloc_churn spell churns 1-64 MiB blocks (two threads,
8 blocks each) for --busy seconds, frees everything and sleeps --idle seconds;
RssAnon is read from /proc/PID/status every --every seconds from outside.
Every allocator runs the same binary, preloaded: glibc, jemalloc, tcmalloc,
mimalloc (Debian's libraries) and the layer, once per --trim value
(VMRECLAIM_IDLE_TRIM_NS in ms: "default" leaves it unset, 0 is the idle trim
off, i.e. the engine's sampling alone). Runs are interleaved; the table gives
medians of: the RssAnon integral over the idle spell (MiB*s, trapezoids from
the first sample after the idle phase began to the end), peak RssAnon, RssAnon
at the end, the time from the start of the idle spell until RssAnon is within
16 MiB of its end value, and the busy phase's CPU seconds, operations and
minor faults. The peak is the process's peak resident size (VmHWM, exact,
not sampled), shown beside the peak of what the program itself held (the
sum of its live blocks' sizes): a time-bound busy phase lets a faster
allocator do more operations, and more operations meet larger sums of the
random sizes, so --ops N (N operations a thread instead of --busy seconds)
gives every allocator the same work, and the ratio of the two peaks compares
them at any amount of work.

  bench/alloc/idle_spell.py --churn BUILD/bench/alloc/alloc_churn \\
      --layer BUILD/alloc/libvmreclaim-malloc.so [--trim default,0] [--reps 3] \\
      [--busy 5 | --ops N] [--idle 40] [--every 0.25] [--csv FILE] [--timeline FILE] [--plot FILE]
"""
import argparse
import csv
import os
import re
import statistics
import subprocess
import sys
import threading
import time

LIBDIR = "/usr/lib/x86_64-linux-gnu"


def rss_anon_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def env_for(preload, trim):
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("VMRECLAIM_")}
    if preload:
        env["LD_PRELOAD"] = preload
    if trim not in (None, "default"):
        env["VMRECLAIM_IDLE_TRIM_NS"] = str(int(float(trim) * 1_000_000))
    return env


def configs(layer, trims):
    out = [("glibc", None, None)]
    for name, lib in (("jemalloc", "libjemalloc.so.2"), ("tcmalloc", "libtcmalloc_minimal.so.4"),
                      ("mimalloc", "libmimalloc.so.2")):
        path = os.path.join(LIBDIR, lib)
        if os.path.exists(path):
            out.append((name, path, None))
        else:
            print(f"{name}: {path} is not installed, left out", file=sys.stderr)
    for t in trims:
        label = ("layer (idle trim off)" if t == "0" else
                 "layer" if t == "default" else f"layer (idle trim {t} ms)")
        out.append((label, layer, t))
    return out


def one_run(cmd, env, every):
    """Runs the spell; returns (samples [(t, kib)], t_idle, t_end, key=value output)."""
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    marks = {}
    out_lines = []

    def reader():
        for line in p.stdout:
            out_lines.append(line)
            m = re.match(r"phase=(\w+) ", line)
            if m:
                marks[m.group(1)] = time.monotonic() - t0

    th = threading.Thread(target=reader)
    th.start()
    samples = []
    next_t = t0
    while p.poll() is None:
        kib = rss_anon_kib(p.pid)
        if kib is not None and "end" not in marks:
            samples.append((time.monotonic() - t0, kib))
        next_t += every
        time.sleep(max(0.0, next_t - time.monotonic()))
    th.join()
    if p.returncode != 0:
        sys.exit(f"{cmd} failed ({p.returncode})")
    kv = {m.group(1): m.group(2) for m in re.finditer(r"^(\w+)=(\S+)$", "".join(out_lines), re.M)}
    return samples, marks.get("idle"), marks.get("end"), kv


def summarise(samples, t_idle, t_end):
    idle = [(t, k / 1024) for t, k in samples if t_idle <= t <= t_end]
    integral = sum((t2 - t1) * (a + b) / 2 for (t1, a), (t2, b) in zip(idle, idle[1:]))
    end = idle[-1][1] if idle else float("nan")
    settle = next((t - t_idle for t, m in idle if m <= end + 16), float("nan"))
    peak = max(k for _, k in samples) / 1024
    return integral, peak, end, settle


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--churn", required=True)
    ap.add_argument("--layer", required=True)
    ap.add_argument("--trim", default="default,0",
                    help="comma-separated VMRECLAIM_IDLE_TRIM_NS values in ms for the layer's rows ('default': unset)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--busy", type=float, default=5)
    ap.add_argument("--ops", type=int, help="operations a thread in the busy phase (instead of --busy seconds)")
    ap.add_argument("--idle", type=float, default=40)
    ap.add_argument("--every", type=float, default=0.25)
    ap.add_argument("--csv", help="one row per run")
    ap.add_argument("--timeline", help="every RssAnon sample of every run")
    ap.add_argument("--plot", help="a PNG of each allocator's RssAnon over its median run")
    ap.add_argument("--from-csv", action="store_true",
                    help="run nothing: the table and plot from the files of --csv and --timeline")
    args = ap.parse_args()
    if args.from_csv:
        with open(args.csv) as f:
            rows = [{k: (v if k == "allocator" else float(v)) for k, v in r.items()} for r in csv.DictReader(f)]
        with open(args.timeline) as f:
            timeline = [(r["allocator"], int(r["rep"]), float(r["t_from_idle_s"]), int(r["rss_anon_kib"]))
                        for r in csv.DictReader(f)]
        names = list(dict.fromkeys(r["allocator"] for r in rows))
        report([(n, None, None) for n in names], rows, timeline, args)
        return
    for path in (args.churn, args.layer):
        if not os.path.exists(path):
            sys.exit(f"{path}: not found (build alloc_churn and vmreclaim_malloc first)")
    allocs = configs(args.layer, [t.strip() for t in args.trim.split(",") if t.strip()])
    cmd = [args.churn, "spell", "--threads", "2", "--slots", "8", "--min", str(1 << 20), "--max", str(64 << 20),
           "--idle", str(args.idle)]
    cmd += ["--ops", str(args.ops)] if args.ops else ["--busy", str(args.busy)]
    rows, timeline = [], []
    for rep in range(args.reps):
        for name, lib, trim in allocs:
            samples, t_idle, t_end, kv = one_run(cmd, env_for(lib, trim), args.every)
            integral, peak, end, settle = summarise(samples, t_idle, t_end)
            row = {"allocator": name, "rep": rep, "idle_integral_mib_s": round(integral, 1),
                   "peak_mib": round(peak, 1), "end_mib": round(end, 1), "settle_s": round(settle, 2),
                   "busy_cpu_s": float(kv.get("busy_cpu_s", "nan")), "ops": int(kv.get("ops", "0")),
                   "busy_minor_faults": int(kv.get("busy_minor_faults", "0")),
                   "peak_resident_mib": round(int(kv.get("peak_rss_kb", "0")) / 1024, 1),
                   "peak_live_mib": round(int(kv.get("peak_live_kb", "0")) / 1024, 1)}
            rows.append(row)
            timeline += [(name, rep, round(t - t_idle, 3), k) for t, k in samples]
            print(f"rep {rep} {name}: idle {integral:.0f} MiB*s, peak {row['peak_resident_mib']:.0f} MiB "
                  f"(held {row['peak_live_mib']:.0f}), end {end:.0f} MiB, "
                  f"settled {settle:.2f} s, busy {row['busy_cpu_s']:.2f} s CPU", file=sys.stderr)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    if args.timeline:
        with open(args.timeline, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["allocator", "rep", "t_from_idle_s", "rss_anon_kib"])
            w.writerows(timeline)

    report(allocs, rows, timeline, args)


def report(allocs, rows, timeline, args):
    med = {}
    for name, _, _ in allocs:
        rs = [r for r in rows if r["allocator"] == name]
        med[name] = {k: statistics.median(r.get(k, float("nan")) for r in rs)
                     for k in rs[0] if k not in ("allocator", "rep")}
        # The peaks' ratio is taken per run, then the median.
        med[name]["peak_over_live"] = statistics.median(
            r["peak_resident_mib"] / r["peak_live_mib"] if r.get("peak_live_mib") else float("nan") for r in rs)
    base = med["glibc"]["idle_integral_mib_s"]
    base_peak = med["glibc"].get("peak_resident_mib", med["glibc"]["peak_mib"])
    busy = f"{args.ops} operations a thread" if getattr(args, "ops", None) else f"busy {args.busy:g} s"
    print(f"alloc_churn spell: 2 threads x 8 blocks of 1-64 MiB, {busy}, idle {args.idle:g} s, "
          f"RssAnon every {args.every:g} s; medians of {args.reps}\n")
    print("| allocator | idle RssAnon integral (MiB*s) | vs glibc | peak resident (MiB) | vs glibc "
          "| program's own peak (MiB) | resident / own | end of idle (MiB) | settled after (s) | busy CPU (s) "
          "| ops | minor faults |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, _, _ in allocs:
        m = med[name]
        # CSVs written before VmHWM was reported have only the sampled peak.
        pk = m.get("peak_resident_mib", m["peak_mib"])
        print(f"| {name} | {m['idle_integral_mib_s']:.0f} | {m['idle_integral_mib_s'] / base:.2f}x "
              f"| {pk:.0f} | {pk / base_peak:.2f}x | {m.get('peak_live_mib', float('nan')):.0f} "
              f"| {m['peak_over_live']:.2f} | {m['end_mib']:.0f} | {m['settle_s']:.2f} | {m['busy_cpu_s']:.2f} "
              f"| {m['ops']:.0f} | {m['busy_minor_faults']:.0f} |")

    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(9, 4.5))
        for name, _, _ in allocs:
            rs = sorted((r for r in rows if r["allocator"] == name), key=lambda r: r["idle_integral_mib_s"])
            rep = rs[len(rs) // 2]["rep"]
            pts = [(t, k / 1024) for n, r, t, k in timeline if n == name and r == rep]
            ax.plot([t for t, _ in pts], [m for _, m in pts], label=name, linewidth=1.2)
        ax.axvline(0, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("seconds from the start of the idle spell")
        ax.set_ylabel("RssAnon (MiB)")
        ax.set_yscale("log")
        ax.set_ylim(bottom=0.5)
        ax.set_title("Large-block churn, then idle: RssAnon (median run of each)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)


if __name__ == "__main__":
    main()

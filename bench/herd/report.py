#!/usr/bin/python3
"""Summarises and plots the JSON of `vmreclaim demo --mode herd --json`.

usage: bench/herd/report.py OUT.png HERD.json...

Prints one table row per run (configuration, squeeze, daemon or not: the
deficit D, bytes reclaimed, their ratio, time to relief, OOM kills, faults
afterwards) and draws, per configuration and squeeze, the cgroup's usage
and the bytes held in all rings against time, with the limit and the
watermarks; runs with and without the daemon side by side. The table is
printed even when matplotlib is missing.
"""
import json
import sys

MIB = 1 << 20


def load(paths):
    docs = []
    for p in paths:
        try:
            with open(p) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            sys.stderr.write(f"herd report: {p}: {e}\n")
            sys.exit(1)
        if doc.get("mode") != "herd" or "runs" not in doc:
            sys.stderr.write(f"herd report: {p} is not the output of `vmreclaim demo --mode herd --json`\n")
            sys.exit(1)
        docs.append(doc)
    return docs


def label(doc):
    c = doc["config"]
    return f"{c['processes']}x{c['unused_mib']} MiB"


def table(docs):
    print(f"{'CONFIG':<12} {'SQUEEZE':<10} {'DAEMON':<7} {'D MiB':>8} {'RECL MiB':>9} {'RATIO':>6} "
          f"{'RELIEF ms':>10} {'OOM':>4} {'FAULTS':>9}")
    for doc in docs:
        for r in doc["runs"]:
            if not r["ok"]:
                print(f"{label(doc):<12} {r['squeeze']:<10} {'yes' if r['daemon'] else 'no':<7} failed: {r['error']}")
                continue
            relief = "never" if r["relief_seconds"] is None else f"{r['relief_seconds'] * 1000:.0f}"
            print(f"{label(doc):<12} {r['squeeze']:<10} {'yes' if r['daemon'] else 'no':<7} "
                  f"{r['deficit_bytes'] / MIB:>8.1f} {r['reclaimed_bytes'] / MIB:>9.1f} {r['ratio']:>5.2f}x "
                  f"{relief:>10} {r['oom_kills']:>4} {r['minor_faults_after']:>9}")
        if doc.get("daemon_note"):
            print(f"  ({label(doc)}: {doc['daemon_note']})")


def plot(out, docs):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.stderr.write("herd report: matplotlib is not installed (python3-matplotlib): no plot\n")
        return
    panels = [(doc, sq) for doc in docs for sq in sorted({r["squeeze"] for r in doc["runs"]})]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 3.2 * len(panels)), squeeze=False)
    for ax, (doc, sq) in zip(axes[:, 0], panels):
        parts = []  # one "reclaimed ... (ratio) who" per run drawn in this panel
        for r in doc["runs"]:
            if r["squeeze"] != sq or not r["ok"] or not r["points"]:
                continue
            style = "-" if r["daemon"] else "--"
            who = "daemon" if r["daemon"] else "no daemon"
            t = [p[0] for p in r["points"]]
            ax.plot(t, [p[1] / MIB for p in r["points"]], style, color="#1f77b4", label=f"cgroup usage ({who})")
            ax.plot(t, [p[2] / MIB for p in r["points"]], style, color="#2ca02c", label=f"held in rings ({who})")
            ax.axhline(r["limit_bytes"] / MIB, color="#d62728", linewidth=0.8)
            ax.axhline(r["high_watermark_bytes"] / MIB, color="#ff7f0e", linewidth=0.8, linestyle=":")
            ax.axhline(r["low_watermark_bytes"] / MIB, color="#9467bd", linewidth=0.8, linestyle=":")
            ax.text(t[-1], r["limit_bytes"] / MIB, " limit", va="bottom", ha="right", fontsize=7)
            ax.text(t[-1], r["low_watermark_bytes"] / MIB, " low", va="top", ha="right", fontsize=7)
            parts.append(f"{who} {r['reclaimed_bytes'] / MIB:.0f} MiB ({r['ratio']:.2f}x)")
            ax.set_title(f"{label(doc)}, {sq} squeeze: D {r['deficit_bytes'] / MIB:.0f} MiB, reclaimed: "
                         + ", ".join(parts), fontsize=9)
        ax.set_xlabel("seconds since the squeeze began")
        ax.set_ylabel("MiB")
        ax.legend(fontsize=7, loc="center right")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"plot: {out}")


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    docs = load(argv[2:])
    table(docs)
    plot(argv[1], docs)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

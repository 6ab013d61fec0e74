#!/usr/bin/python3
"""Draws the timeline of `vmreclaim demo --timeline-csv FILE` as a PNG.

usage: scripts/plot_timeline.py TIMELINE.csv OUT.png

RssAnon and the bytes held in the ring against time, the phases shaded,
and what the engine reclaimed (by cause) as steps on a second panel.
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MIB = 1 << 20
PHASE_COLOURS = {"busy": "#fde2c8", "idle": "#dcedc8", "busy-again": "#fde2c8", "squeeze": "#f8c8c8"}


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    try:
        with open(argv[1], newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        sys.stderr.write(f"plot_timeline: {e}\n")
        return 1
    needed = {"t", "phase", "rss_anon", "ring_bytes"}
    if not rows or not needed <= set(rows[0]):
        sys.stderr.write(f"plot_timeline: {argv[1]} is not a timeline CSV (columns {sorted(needed)} expected)\n")
        return 1
    try:
        t = [float(r["t"]) for r in rows]
        rss = [int(r["rss_anon"]) / MIB for r in rows]
        ring = [int(r["ring_bytes"]) / MIB for r in rows]
        causes = [c for c in rows[0] if c.startswith("reclaimed_")]
        reclaimed = {c: [int(r[c]) / MIB for r in rows] for c in causes}
    except (KeyError, ValueError) as e:
        sys.stderr.write(f"plot_timeline: malformed row in {argv[1]}: {e}\n")
        return 1

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, height_ratios=[3, 2])
    # Shade each phase once, labelled at its middle.
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i]["phase"] != rows[start]["phase"]:
            phase = rows[start]["phase"]
            end = t[i] if i < len(rows) else t[-1]
            for ax in (top, bottom):
                ax.axvspan(t[start], end, color=PHASE_COLOURS.get(phase, "#eeeeee"), alpha=0.6, lw=0)
            top.text((t[start] + end) / 2, 1.01, phase, transform=top.get_xaxis_transform(), ha="center",
                     va="bottom", fontsize=9)
            start = i
    top.plot(t, rss, label="RssAnon", color="#1f4e79", lw=1.8)
    top.plot(t, ring, label="held in the ring (reclaimable)", color="#c55a11", lw=1.2, ls="--")
    top.set_ylabel("MiB")
    top.legend(loc="upper right", fontsize=8)
    for c in causes:
        if reclaimed[c][-1] > 0:
            bottom.step(t, reclaimed[c], where="post", label=c.removeprefix("reclaimed_"))
    bottom.set_ylabel("reclaimed so far (MiB)")
    bottom.set_xlabel("seconds")
    bottom.legend(loc="upper left", fontsize=8)
    fig.suptitle("vmreclaim demo: RssAnon of a ring-backed process over time", y=0.995)
    fig.tight_layout()
    fig.savefig(argv[2], dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

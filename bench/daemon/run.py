#!/usr/bin/env python3
"""vmreclaimd's monitoring-cost and discovery benchmarks (docs/benchmarks.md,
"Daemon: monitoring cost and discovery"; issue 12's targets).

  cost       N idle processes (vmreclaim_daemon_target), each holding
             --ring-mib MiB in its ring with its engine thread running, in a
             v1 memory cgroup of their own; the time on a CPU of all of them,
             plus the daemon's (schedstat of every thread; utime + stime
             from /proc/PID/stat beside it),
             over --seconds, once with the daemon and once without (each
             engine polls pressure itself: VMRECLAIM_DAEMON_SOCKET names a
             socket nobody listens on, or "0" with --without off).
  discovery  with the daemon running, --rings processes started one after
             another: the time from the ring's allocation (the target prints
             "ring" right after mach_vm_reclaim_ring_allocate returns) until
             its pid is in the daemon's status; then the daemon is killed
             (SIGKILL) and started again on the same socket: the time from
             the new daemon's start until every live ring is in its status.

usage: bench/daemon/run.py [--build DIR] [--json FILE] cost|discovery|all [options]
Needs root (a memory cgroup of its own) and a build holding vmreclaimd and
vmreclaim_daemon_target (cmake --build build --target vmreclaimd vmreclaim_daemon_target).
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

MEMORY_ROOT = "/sys/fs/cgroup/memory"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of the whole process (all threads), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    # comm is in parentheses and may hold anything: parse after the last ')'.
    rest = text[text.rfind(")") + 2:].split()
    if len(rest) < 13:
        return None
    try:
        return (int(rest[11]) + int(rest[12])) / CLK_TCK
    except ValueError:
        return None


def run_seconds(pid, slices=None):
    """Time on a CPU of all the process's threads, in seconds, from the
    scheduler's own clock (/proc/PID/task/TID/schedstat, first field, ns):
    exact, where utime and stime are sampled at the timer tick and miss most
    of a thread that runs for microseconds once a second. None once it is gone.
    `slices` (a one-element list), if given, gets the times it was put on a
    CPU (the third field) added."""
    total = 0
    slices = slices if slices is not None else [0]
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                fields = f.read().split()
                total += int(fields[0])
                slices[0] += int(fields[2])
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended between the listing and the read
    return total / 1e9


def status(sock_path, timeout=2.0):
    """The daemon's snapshot (its status request), or None if it does not answer."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(timeout)
    try:
        s.connect(sock_path)
        s.send(b'{"op":"status"}')
        data = s.recv(1 << 20)
        return json.loads(data)
    except (OSError, ValueError):
        return None
    finally:
        s.close()


def known_pids(sock_path):
    """{pid: registered} of the processes in the daemon's status, or None."""
    snap = status(sock_path)
    if snap is None:
        return None
    return {p["pid"]: bool(p.get("registered")) for p in snap.get("processes", [])}


class Bench:
    def __init__(self, args):
        self.args = args
        self.daemon_bin = os.path.join(args.build, "tools/vmreclaimd/vmreclaimd")
        self.target_bin = os.path.join(args.build, "tests/daemon/vmreclaim_daemon_target")
        for b in (self.daemon_bin, self.target_bin):
            if not os.access(b, os.X_OK):
                sys.exit(f"daemon bench: {b} is not built "
                         "(cmake --build build --target vmreclaimd vmreclaim_daemon_target)")
        tag = f"vmreclaim-dbench-{os.getpid()}"
        self.cgroup = f"{MEMORY_ROOT}/{tag}"
        self.socket = f"/tmp/{tag}.sock"
        self.log = f"/tmp/{tag}.log"
        self.daemon = None
        self.targets = []
        os.mkdir(self.cgroup)

    def close(self):
        self.stop_targets()
        self.stop_daemon(signal.SIGTERM)
        try:
            os.rmdir(self.cgroup)
        except OSError as e:
            print(f"daemon bench: rmdir {self.cgroup}: {e}", file=sys.stderr)

    def start_daemon(self):
        log = open(self.log, "a")
        self.daemon = subprocess.Popen(
            [self.daemon_bin, "--foreground", "--socket", self.socket, "--poll-ms", str(self.args.poll_ms),
             "--discover-scope", "/" + os.path.basename(self.cgroup)],
            stdout=log, stderr=log)
        start = time.monotonic()
        while status(self.socket, 0.5) is None:
            if self.daemon.poll() is not None:
                sys.exit(f"daemon bench: vmreclaimd exited (log: {self.log})")
            if time.monotonic() - start > 10:
                sys.exit("daemon bench: vmreclaimd does not answer after 10 s")
            time.sleep(0.002)
        return start

    def stop_daemon(self, sig):
        if self.daemon is None:
            return
        self.daemon.send_signal(sig)
        try:
            self.daemon.wait(5)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            self.daemon.wait()
        self.daemon = None

    def start_target(self, with_daemon):
        env = dict(os.environ)
        # Without: a socket nobody listens on (a machine without the daemon
        # running: one failed connect per pressure poll), or "0" (the link
        # turned off) with --without off.
        for kv in self.args.env or []:
            k, _, v = kv.partition("=")
            env[k] = v
        env["VMRECLAIM_DAEMON_SOCKET"] = (self.socket if with_daemon else
                                          "0" if self.args.without == "off" else self.socket + ".absent")
        procs = os.path.join(self.cgroup, "cgroup.procs")

        def join():
            with open(procs, "w") as f:
                f.write(str(os.getpid()))

        p = subprocess.Popen([self.target_bin, "--ring-mib", str(self.args.ring_mib), "--live-mib", "1"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, preexec_fn=join)
        self.targets.append(p)
        return p

    @staticmethod
    def wait_line(p, word):
        line = p.stdout.readline().decode().strip()
        if line != word:
            sys.exit(f"daemon bench: a target said {line!r}, expected {word!r}")
        return time.monotonic()

    def stop_targets(self):
        for p in self.targets:
            try:
                p.stdin.close()
            except OSError:
                pass
        for p in self.targets:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.targets = []

    # ---- monitoring cost ----
    def cost_case(self, with_daemon):
        if with_daemon:
            self.start_daemon()
        for _ in range(self.args.processes):
            p = self.start_target(with_daemon)
            self.wait_line(p, "ring")
            self.wait_line(p, "ready")
        # Let every engine reach its steady state (its first sample, its
        # registration) before the window opens.
        time.sleep(self.args.warmup)
        pids = [p.pid for p in self.targets] + ([self.daemon.pid] if self.daemon else [])
        before = {pid: cpu_seconds(pid) for pid in pids}
        sw_before = {pid: [0] for pid in pids}
        run_before = {pid: run_seconds(pid, sw_before[pid]) for pid in pids}
        load_before = os.getloadavg()
        t0 = time.monotonic()
        time.sleep(self.args.seconds)
        wall = time.monotonic() - t0
        after = {pid: cpu_seconds(pid) for pid in pids}
        sw_after = {pid: [0] for pid in pids}
        run_after = {pid: run_seconds(pid, sw_after[pid]) for pid in pids}
        load_after = os.getloadavg()
        gone = [pid for pid in pids if None in (before[pid], after[pid], run_before[pid], run_after[pid])]
        if gone:
            sys.exit(f"daemon bench: {len(gone)} processes died during the window")
        targets_cpu = sum(after[p.pid] - before[p.pid] for p in self.targets)
        daemon_cpu = after[self.daemon.pid] - before[self.daemon.pid] if self.daemon else 0.0
        each = [run_after[p.pid] - run_before[p.pid] for p in self.targets]
        targets_run = sum(each)
        wakeups = sum(sw_after[p.pid][0] - sw_before[p.pid][0] for p in self.targets)
        daemon_run = run_after[self.daemon.pid] - run_before[self.daemon.pid] if self.daemon else 0.0
        registered = None
        if with_daemon:
            snap = status(self.socket)
            registered = sum(1 for p in snap["processes"] if p.get("registered")) if snap else None
        self.stop_targets()
        self.stop_daemon(signal.SIGTERM)
        return {"daemon": with_daemon, "without": None if with_daemon else self.args.without,
                "processes": self.args.processes, "window_s": wall,
                "targets_cpu_s": targets_cpu, "daemon_cpu_s": daemon_cpu, "total_cpu_s": targets_cpu + daemon_cpu,
                "targets_run_each_s": each, "targets_on_cpu_count": wakeups,
                "targets_run_s": targets_run, "daemon_run_s": daemon_run, "total_run_s": targets_run + daemon_run,
                "registered": registered, "loadavg_before": load_before, "loadavg_after": load_after}

    def cost(self):
        runs = [self.cost_case(False), self.cost_case(True)]
        ratio = runs[1]["total_run_s"] / runs[0]["total_run_s"] if runs[0]["total_run_s"] > 0 else None
        ratio_ticks = runs[1]["total_cpu_s"] / runs[0]["total_cpu_s"] if runs[0]["total_cpu_s"] > 0 else None
        for r in runs:
            print(f"cost: daemon={'yes' if r['daemon'] else 'no '} {r['processes']} processes, {r['window_s']:.1f} s: "
                  f"on CPU (schedstat) targets {r['targets_run_s']:.3f} s, daemon {r['daemon_run_s']:.3f} s, "
                  f"total {r['total_run_s']:.3f} s; put on a CPU {r['targets_on_cpu_count']} times; utime+stime total {r['total_cpu_s']:.2f} s; "
                  f"load {r['loadavg_before'][0]:.2f} -> {r['loadavg_after'][0]:.2f}"
                  + (f"; registered {r['registered']}" if r["daemon"] else ""))
        if ratio is not None:
            print(f"cost: with / without = {ratio:.3f} (schedstat), {ratio_ticks:.3f} (utime+stime)")
        return {"runs": runs, "ratio": ratio, "ratio_utime_stime": ratio_ticks}

    # ---- discovery ----
    def discovery(self):
        self.start_daemon()
        delays = []
        for _ in range(self.args.rings):
            p = self.start_target(True)
            t_ring = self.wait_line(p, "ring")
            while True:
                pids = known_pids(self.socket)
                if pids is not None and p.pid in pids:
                    delays.append(time.monotonic() - t_ring)
                    break
                if time.monotonic() - t_ring > 30:
                    sys.exit("daemon bench: a ring was not known to the daemon after 30 s")
                time.sleep(0.001)
            self.wait_line(p, "ready")
        live = {p.pid for p in self.targets}
        # Restart: the daemon dies without a word; a new one on the same socket.
        self.stop_daemon(signal.SIGKILL)
        t_start = self.start_daemon()
        t_answer = time.monotonic()
        curve = []  # (seconds since the new daemon started, rings known, rings registered again)
        while True:
            pids = known_pids(self.socket) or {}
            n = sum(1 for p in live if p in pids)
            reg = sum(1 for p in live if pids.get(p))
            if not curve or curve[-1][1:] != (n, reg):
                curve.append((time.monotonic() - t_start, n, reg))
            if reg == len(live):
                break
            if time.monotonic() - t_start > 60:
                break
            time.sleep(0.002)
        self.stop_targets()
        self.stop_daemon(signal.SIGTERM)
        d = sorted(delays)

        def pct(q):
            return d[min(len(d) - 1, int(q * len(d)))]

        res = {"rings": len(d), "poll_ms": self.args.poll_ms, "delays_s": delays,
               "median_s": statistics.median(d), "p90_s": pct(0.9), "max_s": d[-1], "min_s": d[0],
               "restart_answer_s": t_answer - t_start,
               "restart_all_known_s": next((c[0] for c in curve if c[1] == len(live)), None),
               "restart_all_registered_s": next((c[0] for c in curve if c[2] == len(live)), None),
               "restart_known": curve[-1][1], "restart_registered": curve[-1][2], "restart_curve": curve,
               "loadavg": os.getloadavg()}
        print(f"discovery: {len(d)} rings, daemon poll {self.args.poll_ms} ms: ring allocated -> in status "
              f"min {res['min_s'] * 1000:.1f} ms, median {res['median_s'] * 1000:.1f} ms, "
              f"p90 {res['p90_s'] * 1000:.1f} ms, max {res['max_s'] * 1000:.1f} ms")
        def ms(v):
            return "never" if v is None else f"{v * 1000:.0f} ms"

        print(f"discovery: restart (SIGKILL, new daemon): answering after {ms(res['restart_answer_s'])}; "
              f"all {len(live)} rings known after {ms(res['restart_all_known_s'])} (discovery or registration), "
              f"registered again after {ms(res['restart_all_registered_s'])} "
              f"({res['restart_registered']}/{len(live)}); load {res['loadavg'][0]:.2f}")
        return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["cost", "discovery", "all"])
    ap.add_argument("--build", default=os.environ.get("VMRECLAIM_BUILD_DIR", "build"))
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--processes", type=int, default=200, help="cost: idle processes (200)")
    ap.add_argument("--ring-mib", type=int, default=4, help="MiB each holds in its ring (4)")
    ap.add_argument("--seconds", type=float, default=60, help="cost: the window (60 s)")
    ap.add_argument("--warmup", type=float, default=15, help="cost: wait before the window (15 s)")
    ap.add_argument("--rings", type=int, default=50, help="discovery: rings registered (50)")
    ap.add_argument("--without", choices=["absent", "off"], default="absent",
                    help="cost: the case without, a daemon absent (default) or the link turned off")
    ap.add_argument("--env", action="append", metavar="NAME=VALUE",
                    help="cost: set in every target's environment (repeatable), e.g. "
                         "VMRECLAIM_AUTOTRIM_PCT_NORMAL=100 so that autotrim leaves the rings their memory")
    ap.add_argument("--poll-ms", type=int, default=1000, help="the daemon's poll (its default, 1000)")
    args = ap.parse_args()
    if args.processes < 1 or args.rings < 1 or args.seconds <= 0 or args.ring_mib < 1:
        ap.error("counts, --seconds and --ring-mib must be positive")
    if os.geteuid() != 0:
        sys.exit("daemon bench: needs root (a memory cgroup of its own)")
    if not os.path.exists(os.path.join(MEMORY_ROOT, "memory.limit_in_bytes")):
        sys.exit(f"daemon bench: no cgroup v1 memory controller at {MEMORY_ROOT}")
    bench = Bench(args)
    out = {"uname": os.uname().release, "cpus": os.cpu_count()}
    try:
        if args.what in ("cost", "all"):
            out["cost"] = bench.cost()
        if args.what in ("discovery", "all"):
            out["discovery"] = bench.discovery()
    finally:
        bench.close()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()

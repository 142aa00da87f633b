#!/usr/bin/env python3
"""Reconcile benchmark: what the TUI's periodic libvirt digest costs on the large benchmark host.

    .venv/bin/python bench/reconcile_bench.py [--pfs 16] [--vfs 64] [--guests 500] [--rounds 20]
    .venv/bin/python bench/reconcile_bench.py --connect URI [--daemon-pid PID]   # any libvirt

The TUI's backend takes ``core.virt.fingerprint.libvirt_fingerprint(conn)`` every
``tui.reconcile.RECONCILE_EVERY`` seconds on its libvirt thread and rescans only when it moved (changes
that emit no libvirt event: ``attach-device --config``, autostart). Nothing changes between rounds
here, so this is the steady cost: the digest alone.

Default: bench/gen_host.py's large host in the libvirt test driver, which runs inside this process,
so the process CPU time is the whole cost. With ``--connect`` the cost is split between this client
and the daemon: give ``--daemon-pid`` to add libvirtd's CPU time (read from /proc).

Prints the median CPU and wall time of one digest, the period the backend uses for it
(``RECONCILE_EVERY``, stretched so the digest takes at most ``RECONCILE_BUDGET`` of the time), and
the share of one core at that period (target: well under 5 %).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _proc_cpu(pid: int) -> float:
    """utime + stime of a process, seconds."""
    import os

    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(uri: str, rounds: int, daemon_pid: int | None) -> dict:
    from vfpool_tui.core.virt.connection import open_connection
    from vfpool_tui.core.virt.fingerprint import libvirt_fingerprint

    conn = open_connection(uri, readonly=True if daemon_pid is not None else None)
    guests = len(conn.listAllDomains(0))
    networks = len(conn.listAllNetworks(0))
    libvirt_fingerprint(conn)  # warm up (first calls load caches)
    cpu, wall = [], []
    for _ in range(rounds):
        d0 = _proc_cpu(daemon_pid) if daemon_pid else 0.0
        c0, w0 = time.process_time(), time.perf_counter()
        libvirt_fingerprint(conn)
        c1, w1 = time.process_time(), time.perf_counter()
        d1 = _proc_cpu(daemon_pid) if daemon_pid else 0.0
        cpu.append((c1 - c0) + (d1 - d0))
        wall.append(w1 - w0)
    conn.close()
    return {"guests": guests, "networks": networks, "cpu": statistics.median(cpu),
            "wall": statistics.median(wall), "rounds": rounds}


def main() -> int:
    from vfpool_tui.tui.reconcile import RECONCILE_BUDGET, RECONCILE_EVERY

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pfs", type=int, default=16)
    ap.add_argument("--vfs", type=int, default=64)
    ap.add_argument("--guests", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--connect", metavar="URI", help="measure on this libvirt instead of the generated host")
    ap.add_argument("--daemon-pid", type=int, help="with --connect: libvirtd's PID, to add its CPU time")
    args = ap.parse_args()

    if args.connect:
        where = args.connect
        res = measure(args.connect, args.rounds, args.daemon_pid)
    else:
        from gen_host import generate

        with tempfile.TemporaryDirectory(prefix="vfpool-reconcile-bench-") as tmp:
            _host, node = generate(Path(tmp), pfs=args.pfs, vfs=args.vfs, guests=args.guests)
            where = f"generated host ({args.pfs} PFs x {args.vfs} VFs), libvirt test driver"
            res = measure(f"test://{node}", args.rounds, None)
    # the backend's period: RECONCILE_EVERY, or longer when one digest takes more than
    # RECONCILE_BUDGET of it (tui/reconcile.py, Reconciling.reconcile_period; it times the wall clock)
    period = max(RECONCILE_EVERY, res["wall"] / RECONCILE_BUDGET)
    who = " (client + libvirtd)" if args.daemon_pid else ""
    print(f"reconcile digest on {where}: {res['guests']} guests, {res['networks']} networks")
    print(f"  one digest: {res['cpu'] * 1000:.1f} ms CPU{who}, {res['wall'] * 1000:.1f} ms wall "
          f"(median of {res['rounds']})")
    print(f"  the TUI takes one every {period:.1f} s: {100.0 * res['cpu'] / period:.2f} % of one core "
          f"(target: well under 5 %; at a fixed {RECONCILE_EVERY:g} s it would be "
          f"{100.0 * res['cpu'] / RECONCILE_EVERY:.2f} %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

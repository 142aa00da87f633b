"""Conversion benchmark: 20 running guests onto one pool, 4 at a time, each taking a set time to
shut down; the wall time against the floor ceil(20/4) x that time, and the engine's overhead.

    .venv/bin/python bench/conversion_bench.py [--guests 20] [--concurrency 4] [--shutdown 2.0] [--rounds 1]

libvirt's test driver powers a guest off at once on an ACPI shutdown request: here each guest's
power-off is INJECTED ``--shutdown`` seconds after the request (a timer), the one stand-in; the rest
is the real engine (plan, journal, shutdown wait on lifecycle events, define with validation, start,
verify) against the real test driver. Target: overhead (wall - floor) under 1 s in total.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


class _SlowDom:
    """A real test-driver domain whose ACPI shutdown takes ``delay`` seconds (INJECTED)."""

    def __init__(self, dom, delay: float):
        self._dom, self._delay = dom, delay

    def __getattr__(self, attr):
        return getattr(self._dom, attr)

    def shutdown(self):
        threading.Timer(self._delay, self._dom.shutdown).start()
        return 0


class _SlowConn:
    def __init__(self, conn, delay: float):
        self._conn, self._delay = conn, delay

    def __getattr__(self, attr):
        return getattr(self._conn, attr)

    def lookupByUUIDString(self, uuid):
        return _SlowDom(self._conn.lookupByUUIDString(uuid), self._delay)

    def lookupByName(self, name):
        return _SlowDom(self._conn.lookupByName(name), self._delay)


def _host(n_vfs: int):
    from vfpool_tui.core.model import PF, VF, Host

    pf_pci = "0000:03:00.0"
    vfs = tuple(VF(index=i, pci=f"0000:03:{0x10 + i // 8:02x}.{i % 8}", pf_pci=pf_pci, driver="vfio-pci",
                   netdev=None, iommu_group=40 + i) for i in range(n_vfs))
    pf = PF(pf_pci, ("eth3",), "ixgbe", "8086", "10fb", "Intel", "82599ES", 0, 63, n_vfs, "up", vfs)
    return Host(pfs=(pf,), pci_devices=frozenset({pf_pci, *(v.pci for v in vfs)}))


def _node(path: Path, host, guests: int) -> str:
    import gen_host

    vfs = [v.pci for v in host.pfs[0].vfs]
    doms = [gen_host.domain(f"vm{i:02d}", memory_mib=256, vcpus=1, devices=[
        gen_host.hostdev_interface(vfs[i], f"52:54:00:00:10:{i:02x}", guest_addr=gen_host.guest_slot(0))])
        for i in range(guests)]
    nets = [gen_host.pool_network("pool", "eth3")]
    gen_host.write_xml(gen_host.node(doms, nets, autostart=("pool",)), path)
    return f"test://{path}"


def run_once(guests: int, concurrency: int, delay: float) -> tuple[float, int]:
    import libvirt

    from vfpool_tui.core.conversion.engine import ConversionEngine, ensure_event_loop
    from vfpool_tui.core.conversion.events import Result
    from vfpool_tui.core.conversion.journal import Journal
    from vfpool_tui.core.conversion.options import Options
    from vfpool_tui.core.scan import scan

    ensure_event_loop()  # as the CLI does: the shutdown wait follows lifecycle events
    host = _host(guests + 4)
    with tempfile.TemporaryDirectory(prefix="vfpool-convbench-") as tmp:
        uri = _node(Path(tmp) / "node.xml", host, guests)
        conn = libvirt.open(uri)
        slow = _SlowConn(conn, delay)
        engine = ConversionEngine(slow, Journal(Path(tmp) / "journal"),
                                  Options(concurrency=concurrency, shutdown_timeout=delay + 30))
        plan = engine.plan(scan(conn=conn, host=host), [f"vm{i:02d}" for i in range(guests)], "pool")
        assert plan.ok, plan.refused
        t = time.perf_counter()
        outcome = engine.run(plan)
        wall = time.perf_counter() - t
        converted = sum(1 for g in outcome.guests if g.result is Result.CONVERTED)
        conn.close()
    return wall, converted


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--guests", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--shutdown", type=float, default=2.0, help="seconds each guest takes to power off")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    walls = []
    for _ in range(args.rounds):
        wall, converted = run_once(args.guests, args.concurrency, args.shutdown)
        if converted != args.guests:
            print(f"only {converted} of {args.guests} converted", file=sys.stderr)
            return 1
        walls.append(wall)
    wall = statistics.median(walls)
    floor = math.ceil(args.guests / args.concurrency) * args.shutdown
    print(f"{args.guests} running guests onto one pool, concurrency {args.concurrency}, "
          f"{args.shutdown:.1f} s to power off each (INJECTED), {args.rounds} round(s)")
    print(f"wall time            : {wall:7.2f} s")
    print(f"floor ceil(N/c) x t  : {floor:7.2f} s")
    print(f"engine overhead      : {wall - floor:7.2f} s in total (target < 1 s) "
          f"{'OK' if wall - floor < 1 else 'OVER'}; {(wall - floor) / args.guests * 1000:.0f} ms per guest")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

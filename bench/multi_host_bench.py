"""Several hosts: the time to the overview (every host scanned) for 10 hosts against 1.

    .venv/bin/python bench/multi_host_bench.py [--hosts 10] [--pfs 4] [--vfs 16] [--guests 60] [--rounds 5] [--tui]

Each host is a generated test-driver node with its node devices (bench/gen_host.py --nodedevs),
discovered through libvirt (as a remote host is). ``core.scan.scan_hosts`` opens the connections
concurrently, one thread each, as ``scan``/``doctor`` with several --connect and the TUI's hosts
overview do. Prints the median of each and their ratio (1.0 would be perfect concurrency; N for
one host after another). The test driver runs in this process and a scan is CPU work in Python, so
on a 2-core machine the ratio stays well above 1 (measured: 6.9 for 10 hosts); against real remote
hosts most of a scan is waiting on the network, and the threads overlap those waits.

``--tui`` also times the TUI (headless, 80x24, the real app and its per-host backends): from
creating the app to the hosts overview filled in for every host, against the time to the first
scan applied for one host (``--connect`` once: no overview).
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


async def _tui_once(uris: list[str]) -> float:
    from vfpool_tui.tui.app import TuiSettings, make_app

    several = len(uris) > 1
    settings = TuiSettings(uri=None if several else uris[0], hosts=tuple(uris) if several else (),
                           discovery="libvirt", watch_udev=False, animate=False, reconcile_every=None)
    t = time.perf_counter()
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        while not all(h.totals is not None for h in app.sessions.values()):
            await pilot.pause(0.005)
        await pilot.pause()  # applied and painted
        took = time.perf_counter() - t
        await pilot.press("q")
    return took


def tui_times(uris: list[str], rounds: int) -> tuple[list[float], list[float]]:
    import asyncio

    asyncio.run(_tui_once(uris[:1]))  # warm the imports
    one, many = [], []
    for _ in range(rounds):
        one.append(asyncio.run(_tui_once(uris[:1])))
        many.append(asyncio.run(_tui_once(uris)))
    return one, many


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--pfs", type=int, default=4)
    ap.add_argument("--vfs", type=int, default=16)
    ap.add_argument("--guests", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tui", action="store_true", help="also time the TUI's hosts overview")
    args = ap.parse_args()

    import gen_host

    from vfpool_tui.core.scan import scan_hosts

    with tempfile.TemporaryDirectory(prefix="vfpool-multi-") as tmp:
        uris = []
        for i in range(args.hosts):
            _, node = gen_host.generate(Path(tmp) / f"h{i}", pfs=args.pfs, vfs=args.vfs,
                                        guests=args.guests, nodedevs=True)
            uris.append(f"test://{node}")
        scan_hosts(uris[:1], True, "libvirt")  # warm the imports
        one, many = [], []
        for _ in range(args.rounds):
            t = time.perf_counter()
            out = scan_hosts(uris[:1], True, "libvirt")
            one.append(time.perf_counter() - t)
            assert out[0][1] is not None, out[0][2]
            t = time.perf_counter()
            out = scan_hosts(uris, True, "libvirt")
            many.append(time.perf_counter() - t)
            assert all(s is not None for _, s, _ in out), [e for _, _, e in out if e]
        tui = tui_times(uris, args.rounds) if args.tui else None
    m1, mn = statistics.median(one), statistics.median(many)
    print(f"hosts: {args.hosts} x ({args.pfs} PFs x {args.vfs} VFs, {args.guests} guests), "
          f"discovery through libvirt, {args.rounds} rounds")
    print(f"time to overview, 1 host:  {m1 * 1000:8.1f} ms")
    print(f"time to overview, {args.hosts} hosts: {mn * 1000:8.1f} ms")
    print(f"ratio {mn / m1:.2f} (1.0 = all at once, {args.hosts} = one after another)")
    if tui is not None:
        t1, tn = statistics.median(tui[0]), statistics.median(tui[1])
        print(f"TUI, 1 host, first scan shown:     {t1 * 1000:8.1f} ms")
        print(f"TUI, {args.hosts} hosts, overview filled in: {tn * 1000:8.1f} ms")
        print(f"TUI ratio {tn / t1:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""TUI benchmark: first full paint and one-VF refresh, large generated host versus the demo host.

    .venv/bin/python bench/tui_bench.py [--pfs 16] [--vfs 64] [--guests 500] [--rounds 3]

For each host (the built-in demo, and bench/gen_host.py's 16 PFs x 64 VFs, 500 guests) a child
process runs under umockdev-run, so the real pyudev/sysfs discovery reads the emulated tree and
the real libvirt test driver holds the guests. In the child the real app (make_app, Backend with
its libvirt thread) opens headless at 160x48 and we measure:

- first paint: from creating the app to the first frame written after the first scan was applied
  to the tables, split into the wait for that scan (the first look, which a child process takes:
  discovery + libvirt + problems) and the UI part (apply + paint); the app's own connection opens
  and reads after it (its connect time is printed too). As ``vfpool-tui`` does, the child is
  forked before Textual and the app are imported (``tui.run.begin_first_look``, ``core.head_start``),
  so the first paint is also given from this process's start (imports included: what the admin
  waits for, less the interpreter's own start-up, and with this script's imports before the fork,
  ~40 ms, standing in for ``vfpool-tui``'s argument parsing); ``--no-head-start`` forks it as the
  app starts instead, for comparison;
- refresh: once the app's own read is shown, a rescan in which one VF changed driver (what a udev
  event leads to): total, the UI part, and what the VF table did (cells updated, rows
  added/removed). Target: no rebuild.

Prints each figure for the large host next to the demo host's, and the ratio (target: first paint
on the large host within 1.5x the demo host's), with what that first paint waits for besides the UI,
each part alone in a fresh process (``_floors``: discovery, libvirt open, scan) and what the first
look needs of them; then event to repaint, p50 and p95, for real
lifecycle events and udev changes in the host view, and the lifecycle events again in the guests
view, which holds a row per guest (target: p95 <= 100 ms on the large host).

"Painted" is the frame Textual writes to the terminal (``App._display``, hooked on the instance;
headless, it renders the frame and skips only the write of its bytes): the first frame after the
update reached the app. Also printed, for comparison with earlier figures, "until idle": the same
followed by ``pilot.pause()``, which polls in 20 ms steps until no thread of the process used CPU
for one step, so it adds 20 ms or more that no operator sees.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # this process's start, as near as Python gets: before the imports

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# --------------------------------------------------------------------------- child (under umockdev)


class Frames:
    """Every frame the app writes, with the number of scans applied when it was written."""

    def __init__(self, app) -> None:
        self.app, self.seen = app, []
        display = app._display

        def hooked(screen, renderable) -> None:
            display(screen, renderable)
            if renderable is not None:
                self.seen.append((time.perf_counter(), app.scans_applied))

        app._display = hooked

    async def after(self, scans: int) -> float:
        """When the first frame showing more than ``scans`` scans applied was written."""
        while not self.seen or self.seen[-1][1] <= scans:
            await asyncio.sleep(0.0005)
        return min(t for t, applied in self.seen if applied > scans)


def _uri(target: str) -> str:
    """A libvirt URI as given, or a test-driver node file's (by its absolute path: libvirt reads
    ``test://relative/node.xml`` as a host name, and the app would wait for a scan forever)."""
    return target if "://" in target else f"test://{os.path.abspath(target)}"


def _begin_first_look(node_xml: str, head_start: bool) -> bool:
    """As ``vfpool-tui`` does before it imports Textual (``tui.run.begin_first_look``), with the
    settings ``_measure`` gives the app."""
    if not head_start:
        return False
    from vfpool_tui.tui.run import begin_first_look

    return begin_first_look({"uri": _uri(node_xml), "readonly": False, "demo": False, "hosts": (),
                             "discovery": None})


def _begun_left() -> int:
    from vfpool_tui.core import head_start

    return len(head_start._begun)


async def _measure(node_xml: str, head_start: bool = True) -> dict:
    began = _begin_first_look(node_xml, head_start)
    from vfpool_tui.core.host import discovery
    from vfpool_tui.tui.app import TuiSettings, make_app
    from vfpool_tui.tui.messages import ScanReady
    from vfpool_tui.tui.widgets.keyed_table import KeyedTable

    discover_host = discovery.discover_host

    def flipped():  # one VF changes driver, as after a udev bind event
        host = discover_host()
        pf = next(p for p in host.pfs if p.vfs)
        vf = dataclasses.replace(pf.vfs[0], driver="bench-changed")
        return dataclasses.replace(host, pfs=tuple(
            dataclasses.replace(p, vfs=(vf,) + p.vfs[1:]) if p is pf else p for p in host.pfs))

    scan_seconds: list[float] = []

    def hook(message) -> None:
        if isinstance(message, ScanReady):
            scan_seconds.append(message.seconds)

    t0 = time.perf_counter()
    # the app's own discovery (as an admin runs it: the first one in a child process), and for the
    # refresh the next one sees a VF changed
    app = make_app(TuiSettings(uri=_uri(node_xml), readonly=False, watch_udev=False,
                               clock=lambda: "00:00:00", is_root=False, animate=False))
    frames = Frames(app)
    async with app.run_test(size=(160, 48), message_hook=hook) as pilot:
        painted = await frames.after(0)  # the paint that follows the update
        first, from_start = painted - t0, painted - STARTED
        took = began and not _begun_left()  # the app took the child begun for it (else it forked its own)
        await pilot.pause()
        first_ui = app.last_apply_seconds
        first_scan = scan_seconds[0]
        await _settled(app, pilot, scan_seconds)
        vfs = app.screen.query_one("#vfs", KeyedTable)
        rows = vfs.row_count
        discovery.discover_host = flipped
        scans = app.scans_applied
        t1 = time.perf_counter()
        app.request_scan("bench")
        refresh = await frames.after(scans) - t1
        await pilot.pause()
        refresh_ui = app.last_apply_seconds
        stats = dict(vfs.stats)
        assert vfs.get_cell(vfs.shown_keys[0], "driver").plain == "bench-changed"
        n_pfs = len(app.scan.host.pfs)
        n_vfs = sum(len(p.vfs) for p in app.scan.host.pfs)
        n_guests = len(app.scan.guests)
    return {"first": first, "from_start": from_start, "head_start": took,
            "first_scan": first_scan, "first_ui": first_ui, "refresh": refresh,
            "refresh_scan": scan_seconds[-1], "refresh_ui": refresh_ui, "vf_table": stats,
            "vf_rows": rows, "connect": app.backend.timings.get("connect", 0.0), "pfs": n_pfs, "vfs": n_vfs, "guests": n_guests}


async def _settled(app, pilot, ready: list) -> None:
    """Until the backend's own first read is shown: the first paint may show the first look of a
    child process (``tui.backend``), and the read of the app's own connection follows."""
    while app.backend.live.scan is None or app.scans_applied < len(ready):
        await pilot.pause(0.01)


async def _event_latency(node_xml: str, rounds: int = 12) -> dict:
    """Event to repaint, as an admin sees it: a guest stopped or started (libvirt's lifecycle event)
    and a udev change of a PF, each followed until the update that re-read it is painted. The
    app runs with the real discovery (no injected host), so a PF event re-reads that PF alone."""
    import libvirt

    from vfpool_tui.tui.app import TuiSettings, make_app
    from vfpool_tui.tui.messages import HostChanged, ScanReady

    app = make_app(TuiSettings(uri=_uri(node_xml), readonly=False, watch_udev=False,
                               clock=lambda: "00:00:00", is_root=False, animate=False))
    domain, host, domain_idle, host_idle = [], [], [], []
    frames = Frames(app)
    ready: list = []
    async with app.run_test(size=(160, 48), message_hook=lambda m: ready.append(m) if isinstance(
            m, ScanReady) else None) as pilot:
        await frames.after(0)
        await _settled(app, pilot, ready)
        name = next(g.name for g in app.scan.guests if g.active and g.vf_uses)
        pf = app.scan.host.pfs[0].pci

        def stop_or_start(i: int) -> None:  # on the app's own connection: libvirt sends the event
            action = (lambda c: c.lookupByName(name).destroy()) if i % 2 == 0 else \
                     (lambda c: c.lookupByName(name).create())
            app.backend.call(action).result(timeout=30)

        for i in range(rounds):
            scans = app.scans_applied
            stop_or_start(i)
            t = time.perf_counter()  # the event is on its way from here
            domain.append(await frames.after(scans) - t)
            await pilot.pause()
            domain_idle.append(time.perf_counter() - t)
            scans = app.scans_applied
            t = time.perf_counter()
            app.post_message(HostChanged("change", pf))
            host.append(await frames.after(scans) - t)
            await pilot.pause()
            host_idle.append(time.perf_counter() - t)
        # the same guest from the guests view (every guest a row: 500 on the large host)
        guests, guests_idle = [], []
        await pilot.press("g")
        await pilot.pause()
        assert type(app.screen).__name__ == "GuestsScreen", app.screen
        for i in range(rounds):
            scans = app.scans_applied
            stop_or_start(i)
            t = time.perf_counter()
            guests.append(await frames.after(scans) - t)
            await pilot.pause()
            guests_idle.append(time.perf_counter() - t)
        assert app.scan.guests, libvirt  # (libvirt imported for the actions above)
    return {"domain_event": domain, "host_event": host, "domain_idle": domain_idle, "host_idle": host_idle,
            "guests_event": guests, "guests_idle": guests_idle}


def _floors(target: str) -> dict:
    """The parts of a first paint that are not the UI, each alone in this fresh process (one thread,
    nothing else running, first time as in the app): the host discovery, the libvirt open (after
    the event loop, as the backend does) and the scan the backend runs (``LiveScan``: every guest's
    definition and the networks, read and classified)."""
    from vfpool_tui.core.host.discovery import discover_host
    from vfpool_tui.core.scan import LiveScan
    from vfpool_tui.core.virt.connection import open_connection
    from vfpool_tui.core.virt.libvirt_events import ensure_event_loop

    t0, c0 = time.perf_counter(), time.thread_time()
    host = discover_host()
    t1, c1 = time.perf_counter(), time.thread_time()
    ensure_event_loop()
    conn = open_connection(_uri(target), False)
    t2 = time.perf_counter()
    c2 = time.thread_time()
    LiveScan(conn, _uri(target), False, discovery="udev", host=host, discover_host=discover_host)
    t3, c3 = time.perf_counter(), time.thread_time()
    return {"alone_discovery": t1 - t0, "alone_open": t2 - t1, "alone_scan": t3 - t2,
            "cpu_discovery": c1 - c0, "cpu_scan": c3 - c2}


def child(target: str, first_only: bool, floors: bool = False, head_start: bool = True) -> int:
    if floors:
        print(json.dumps(_floors(target)))
        return 0
    out = asyncio.run(_measure(target, head_start))
    if not first_only:
        out.update(asyncio.run(_event_latency(target)))
    print(json.dumps(out))
    return 0


# --------------------------------------------------------------------------- parent


def run_child(umockdev: Path, node: Path | str, first_only: bool = False, floors: bool = False,
              head_start: bool = True) -> dict:
    runner = shutil.which("umockdev-run")
    if runner is None:
        raise SystemExit("needs umockdev-run (apt-get install umockdev)")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("UMOCKDEV_DIR", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: modules imported late are not compiled again
    proc = subprocess.run([runner, "-d", str(umockdev), "--", sys.executable, __file__, "--child", str(node)]
                          + (["--first-only"] if first_only else []) + (["--floors"] if floors else [])
                          + ([] if head_start else ["--no-head-start"]),
                          capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def define_from_node(uri: str, node: Path) -> None:
    """The node file's networks and guests, defined on a real libvirtd (type qemu, not started:
    their VFs are emulated, so they show as shut off and the pools as inactive)."""
    import copy

    import libvirt
    from lxml import etree

    test_ns = "{http://libvirt.org/schemas/domain/test/1.0}"
    conn = libvirt.open(uri)
    try:
        root = etree.parse(str(node)).getroot()
        for net in root.findall("network"):
            conn.networkDefineXML(etree.tostring(net, encoding="unicode"))
        for dom in root.findall("domain"):
            dom = copy.deepcopy(dom)
            dom.set("type", "qemu")
            for el in [e for e in dom.iter() if isinstance(e.tag, str) and e.tag.startswith(test_ns)]:
                el.getparent().remove(el)
            etree.cleanup_namespaces(dom)
            conn.defineXML(etree.tostring(dom, encoding="unicode"))
    finally:
        conn.close()


def _turns(hosts: list, rounds: int):
    """Each host once a round, ``rounds`` times, the first one changing every round: what slows the
    machine for a while slows every host, and none always runs first."""
    for i in range(rounds):
        yield from (hosts if i % 2 == 0 else hosts[::-1])


def on_real_daemon(hosts: list[tuple[str, Path, Path]], rounds: int,
                   head_start: bool = True) -> dict[str, list[dict]] | str:
    """First paint against a private real libvirtd (tests/support/private_libvirtd.py: its own
    namespaces and temp dir, root only) holding each host's guests and networks, one daemon per
    host, both up while the hosts take turns round by round (as ``main`` does: what slows the
    machine for a while slows both); the app reaches it through its socket. The reason when it
    cannot run here."""
    sys.path.insert(0, str(ROOT / "tests" / "support"))
    import private_libvirtd as pl

    try:
        pl.check_available()
    except pl.Unavailable as err:
        return str(err)
    out: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="vfb-", dir="/tmp") as tmp, contextlib.ExitStack() as stack:
        cache = os.path.join(tmp, "cache")  # QEMU's capabilities, probed once for both daemons
        uris = {}
        for name, _umockdev, node in hosts:
            daemon = stack.enter_context(pl.PrivateLibvirtd(os.path.join(tmp, name), cache_dir=cache))
            define_from_node(daemon.uri, node)
            uris[name] = daemon.uri
        for name, umockdev, _node in _turns(hosts, rounds):
            out.setdefault(name, []).append(run_child(umockdev, uris[name], first_only=True, head_start=head_start))
        for name, umockdev, _node in _turns(hosts, rounds):
            out.setdefault(f"{name}:floors", []).append(run_child(umockdev, uris[name], floors=True))
    return out


def print_floors(large: list[dict], demo: list[dict], large_first: float, demo_first: float) -> None:
    """What a first paint waits for besides the UI, each part alone (``_floors``). The TUI takes
    its first look (discovery beside the libvirt open, then the scan) in a child process, on
    another core than the imports and Textual's start-up (begun before the imports): the first
    paint comes after the later of the two, and then the larger tables' paint. ``*_first``: the
    first paints from the process's start."""
    keys = ("alone_discovery", "alone_open", "alone_scan", "cpu_discovery", "cpu_scan")
    lf = {k: statistics.median(r[k] for r in large) for k in keys}
    df = {k: statistics.median(r[k] for r in demo) for k in keys}
    print(f"  what the first paint waits for besides the UI, each alone in a fresh process "
          f"(median of {len(large)}):{'large':>9}{'demo':>11}")
    for label, key in (("host discovery", "alone_discovery"), ("  of which CPU", "cpu_discovery"),
                       ("libvirt open", "alone_open"), ("scan (LiveScan)", "alone_scan"),
                       ("  of which CPU", "cpu_scan")):
        print(f"    {label:34}{lf[key] * 1000:6.1f} ms{df[key] * 1000:8.1f} ms")

    def look(f: dict) -> float:
        return max(f["alone_discovery"], f["alone_open"]) + f["alone_scan"]

    print(f"    the first look (child process: discovery beside the open, then the scan) needs about "
          f"{look(lf) * 1000:.0f} ms on the large host, {look(df) * 1000:.0f} ms on the demo, beside the "
          f"imports and the UI's start-up; first paints measured from the process's start: "
          f"{large_first * 1000:.0f} and {demo_first * 1000:.0f} ms")


def _verdict(big: dict, demo: dict) -> str:
    """Met only when both measures are: from creating the app, and from the process's start."""
    app, start = big["first"] / demo["first"], big["from_start"] / demo["from_start"]
    taken = big["head_start"] and demo["head_start"]
    head = "" if taken else ", look begun by the app (--no-head-start, or not taken)"
    return (f"{'met' if max(app, start) <= 1.5 else 'NOT met'} ({app:.2f}x from creating the app, "
            f"{start:.2f}x from the process's start{head})")


def median_of(runs: list[dict]) -> dict:
    out = dict(runs[0])
    for key in ("connect", "first", "from_start", "first_scan", "first_ui", "refresh", "refresh_scan", "refresh_ui"):
        out[key] = statistics.median(r[key] for r in runs)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pfs", type=int, default=16)
    ap.add_argument("--vfs", type=int, default=64)
    ap.add_argument("--guests", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--real-daemon", action="store_true",
                    help="also the first paint against a private real libvirtd (root; tests/real's daemon)")
    ap.add_argument("--child", metavar="NODE_XML_OR_URI")
    ap.add_argument("--first-only", action="store_true")
    ap.add_argument("--floors", action="store_true")
    ap.add_argument("--no-head-start", dest="head_start", action="store_false",
                    help="the first look begun by the app's backend, as before vfpool-tui began it "
                         "ahead of the imports (core.head_start): for comparison")
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.first_only, args.floors, args.head_start)

    sys.path.insert(0, str(ROOT / "bench"))
    import gen_host

    from vfpool_tui.demo import HOST_UMOCKDEV, NODE_XML

    with tempfile.TemporaryDirectory(prefix="vfpool-tui-bench-") as tmp:
        big_umockdev, big_node = gen_host.generate(tmp, pfs=args.pfs, vfs=args.vfs, guests=args.guests)
        # the hosts take turns, round by round: what slows the machine for a while slows both
        demo_runs, big_runs = [], []
        floors: dict[str, list[dict]] = {"demo": [], "large": []}
        pair = [(demo_runs, HOST_UMOCKDEV, NODE_XML), (big_runs, big_umockdev, big_node)]
        for runs, umockdev, node in _turns(pair, args.rounds):
            runs.append(run_child(umockdev, node, head_start=args.head_start))
        for _ in range(args.rounds):
            floors["demo"].append(run_child(HOST_UMOCKDEV, NODE_XML, floors=True))
            floors["large"].append(run_child(big_umockdev, big_node, floors=True))
        demo, big = median_of(demo_runs), median_of(big_runs)
        real = on_real_daemon([("demo", HOST_UMOCKDEV, NODE_XML), ("large", big_umockdev, big_node)],
                              args.rounds, args.head_start) if args.real_daemon else None

    def ms(x: float) -> str:
        return f"{x * 1000:8.1f} ms"

    print(f"hosts: demo {demo['pfs']} PFs/{demo['vfs']} VFs/{demo['guests']} guests; "
          f"large {big['pfs']} PFs/{big['vfs']} VFs/{big['guests']} guests; "
          f"median of {args.rounds}, headless 160x48")
    print(f"{'':34}{'large':>11}{'demo':>11}{'ratio':>8}")
    rows = [("first full paint", "first"), ("  from the process's start", "from_start"),
            ("  of which wait for the first look", "first_scan"),
            ("  of which UI (apply + paint)", "first_ui"), ("refresh, one VF changed", "refresh"),
            ("  of which scan (backend thread)", "refresh_scan"),
            ("  of which UI (keyed update)", "refresh_ui"),
            ("own libvirt connect, after it", "connect")]
    for label, key in rows:
        ratio = big[key] / demo[key] if demo[key] else float("nan")
        print(f"{label:34}{ms(big[key])}{ms(demo[key])}{ratio:7.2f}x")
    for name, r in (("large", big), ("demo", demo)):
        s = r["vf_table"]
        print(f"refresh on {name}: VF table ({r['vf_rows']} rows) updated {s['updated_cells']} cell(s), "
              f"added {s['added']}, removed {s['removed']} rows, re-sorted {s['sorted']}")
    ui_ratio = big["first_ui"] / demo["first_ui"] if demo["first_ui"] else float("nan")
    rebuilt = any(r["vf_table"]["added"] or r["vf_table"]["removed"] for r in (big, demo))
    print(f"target first paint <= 1.5x demo: {_verdict(big, demo)}; UI part {ui_ratio:.2f}x")

    print_floors(floors["large"], floors["demo"], big["from_start"], demo["from_start"])

    def pct(values: list[float], q: float) -> float:
        values = sorted(values)
        return values[min(len(values) - 1, round(q * (len(values) - 1)))]

    print("event to repaint (a real lifecycle event, a udev change of one PF), all rounds:")
    for label, key in (("guest stopped/started", "domain_event"), ("udev change of a PF", "host_event"),
                       ("the same, guests view", "guests_event")):
        for name, runs in (("large", big_runs), ("demo", demo_runs)):
            values = [v for r in runs for v in r[key]]
            idle = [v for r in runs for v in r[key.replace("event", "idle")]]
            p95 = pct(values, 0.95)
            print(f"  {label:22} {name:5}  p50 {pct(values, 0.5) * 1000:6.1f} ms  p95 {p95 * 1000:6.1f} ms"
                  + (f"  (target <= 100 ms: {'met' if p95 <= 0.1 else 'NOT met'})" if name == "large" else " " * 27)
                  + f"  until idle p50 {pct(idle, 0.5) * 1000:.0f} ms, p95 {pct(idle, 0.95) * 1000:.0f} ms")
    print(f"target refresh does not rebuild the tables: {'met' if not rebuilt else 'NOT met'}")
    if isinstance(real, str):
        print(f"real libvirtd: not measured here ({real})")
    elif real:
        rd, rb = median_of(real["demo"]), median_of(real["large"])
        print(f"first full paint on a real libvirtd (private libvirtd, the same guests and networks "
              f"defined, shut off), median of {args.rounds}:")
        for label, key in rows[:5]:
            ratio = rb[key] / rd[key] if rd[key] else float("nan")
            print(f"{label:34}{ms(rb[key])}{ms(rd[key])}{ratio:7.2f}x")
        print(f"target first paint <= 1.5x demo, real libvirtd: {_verdict(rb, rd)}")
        print_floors(real["large:floors"], real["demo:floors"], rb["from_start"], rd["from_start"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

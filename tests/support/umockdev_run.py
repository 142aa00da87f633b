"""Run the real discovery code inside an umockdev testbed and get its result back as JSON.

As a library (from the tests)::

    host = discover_in_testbed(HOSTS / "intel-82599.umockdev")

As a script (what runs inside ``umockdev-run``)::

    umockdev-run -d FILE -- python tests/umockdev_run.py discover [--netlink]
    umockdev-wrapper python tests/umockdev_run.py watch   # builds its own testbed, sends uevents
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from paths import DATA, ROOT

HOSTS = DATA / "hosts"
UMOCKDEV_RUN = shutil.which("umockdev-run")
UMOCKDEV_WRAPPER = shutil.which("umockdev-wrapper")
# where Debian's python3-gi lives (gir1.2-umockdev-1.0 gives it the UMockdev typelib)
SYSTEM_DIST_PACKAGES = "/usr/lib/python3/dist-packages"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.pop("UMOCKDEV_DIR", None)
    return env


def run_in_testbed(files: list[Path] | Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """``umockdev-run -d FILE... -- python tests/umockdev_run.py ARGS``."""
    if UMOCKDEV_RUN is None:
        raise RuntimeError("umockdev-run is not installed")
    if isinstance(files, Path):
        files = [files]
    cmd = [UMOCKDEV_RUN]
    for f in files:
        cmd += ["-d", str(f)]
    cmd += ["--", sys.executable, str(Path(__file__).resolve()), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(), cwd=ROOT)


def discover_in_testbed(files: list[Path] | Path, *, netlink: bool = False) -> dict[str, Any]:
    """``discover_host()`` run under umockdev; the Host as a dict, plus ``_stderr``."""
    args = ["discover"] + (["--netlink"] if netlink else [])
    proc = run_in_testbed(files, *args)
    if proc.returncode != 0:
        raise AssertionError(f"discovery under umockdev failed ({proc.returncode}):\n{proc.stderr}")
    data = json.loads(proc.stdout)
    data["_stderr"] = proc.stderr
    return data


def run_with_testbed_api(script: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``script`` under ``umockdev-wrapper`` so it can build a testbed with gi's UMockdev."""
    if UMOCKDEV_WRAPPER is None:
        raise RuntimeError("umockdev-wrapper is not installed")
    cmd = [UMOCKDEV_WRAPPER, sys.executable, str(script), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(), cwd=ROOT)


def umockdev_gi_available() -> bool:
    """True when ``gi`` + the UMockdev typelib can be imported (from Debian's python3-gi)."""
    code = (
        "import sys; sys.path.append(%r); import gi; gi.require_version('UMockdev', '1.0'); "
        "from gi.repository import UMockdev" % SYSTEM_DIST_PACKAGES
    )
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


# ------------------------------------------------------------------------ inside the testbed


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (frozenset, set)):
        return sorted(_jsonable(x) for x in obj)
    if isinstance(obj, (list, tuple)):
        return [_jsonable(x) for x in obj]
    return obj


_NEW_VF = """P: /devices/pci0000:00/0000:00:03.0/0000:03:11.0
E: DRIVER=ixgbevf
E: PCI_ID=8086:10ED
E: PCI_SLOT_NAME=0000:03:11.0
E: SUBSYSTEM=pci
A: vendor=0x8086
A: device=0x10ed
L: driver=../../../../bus/pci/drivers/ixgbevf
L: physfn=../0000:03:00.0
"""

_TAP = """P: /devices/virtual/net/vnet0
E: INTERFACE=vnet0
E: SUBSYSTEM=net
A: operstate=unknown
"""


def _watch() -> int:
    """Real uevents from an UMockdev testbed through UdevWatcher; prints what it reported."""
    import time

    sys.path.append(SYSTEM_DIST_PACKAGES)
    import gi

    gi.require_version("UMockdev", "1.0")
    from gi.repository import UMockdev

    from vfpool_tui.core.host.udev_watch import UdevWatcher

    tb = UMockdev.Testbed.new()
    tb.add_from_file(str(HOSTS / "intel-82599.umockdev"))
    base = "/sys/devices/pci0000:00/0000:00:03.0"
    seen: list = []
    watcher = UdevWatcher(seen.append, poll_interval=0.1).start()
    # umockdev sends the "add" uevent itself when a device is added
    tb.add_from_string(_NEW_VF)  # a VF is created
    tb.add_from_string(_TAP)  # a guest's tap appears: not relevant, must be filtered out
    tb.uevent(f"{base}/0000:03:00.0", "change")  # the PF changes (e.g. sriov_numvfs written)
    tb.uevent(f"{base}/0000:03:10.4/net/enp3s16f4", "remove")  # a VF netdev goes away
    tb.uevent(f"{base}/0000:03:10.6", "bind")  # a VF gets a driver
    tb.uevent(f"{base}/0000:03:10.0", "remove")  # a VF is removed
    deadline = time.monotonic() + 10
    while len(seen) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # anything extra (the tap) would arrive now
    t0 = time.monotonic()
    watcher.stop()
    stop_seconds = time.monotonic() - t0
    import pyudev

    from vfpool_tui.core.host.udev_watch import change_from_device

    tap = pyudev.Devices.from_sys_path(pyudev.Context(), "/sys/devices/virtual/net/vnet0")
    json.dump(
        {
            "changes": _jsonable(seen),
            "stop_seconds": stop_seconds,
            "running": watcher.running,
            "tap_change": _jsonable(change_from_device(tap)),
        },
        sys.stdout,
    )
    return 0


def _first(uri: str | None) -> int:
    """The TUI's first look as its backend starts it (``UdevSource`` with ``core.scan.first_look``,
    this process still single-threaded), against discovery and a scan run here; prints how it
    went. ``uri``: a libvirt URI to read too (a test-driver node), or None for the cards alone."""
    import threading

    from vfpool_tui.core.host.discovery import discover_host
    from vfpool_tui.core.scan import FirstLookOf, scan, scan_to_json
    from vfpool_tui.tui.host_source import UdevSource

    threads = threading.active_count()
    source = UdevSource(lambda _msg: None, None, False, threading.Event())
    source.start(first_beside_connect=True,
                 look=FirstLookOf(uri, False, "udev", uri is not None))
    forked = source._forked is not None  # the child's pid is not ours to see otherwise
    preview = source.preview()
    first = source.host(None)
    here = discover_host()
    try:
        os.waitpid(-1, os.WNOHANG)
        children_left = True  # a child not reaped yet (a zombie, or one still running)
    except ChildProcessError:
        children_left = False
    out = {"threads": threads, "forked": forked, "same": first == here, "first": _jsonable(first),
           "children_left": children_left, "preview": None, "scan_here": None}
    if preview is not None:
        out["preview"] = scan_to_json(preview)
        out["scan_here"] = scan_to_json(scan(uri=uri, readonly=False, discovery="udev"))
    json.dump(out, sys.stdout)
    return 0


def _app(uri: str, head_start: bool = False, change_after_look: bool = False) -> int:
    """The real app, headless, on ``uri``: the scans it is handed at start-up (the first look's,
    read by a child process, then its own connection's), as JSON. ``head_start``: as
    ``vfpool-tui --connect URI`` starts it (``tui.run``): the first look begun from the command
    line's settings before Textual is imported, then the app from the same settings; also says
    whether Textual was imported by then and how many children the app forked itself.
    ``change_after_look``: a sysfs attribute changes once the child has read sysfs."""
    import asyncio

    fields: dict = {"uri": uri, "readonly": False, "is_root": False}
    out: dict = {}
    if head_start:
        from vfpool_tui.cli import _finish_args, build_parser
        from vfpool_tui.core import head_start as begun
        from vfpool_tui.tui.run import begin_first_look, settings_fields

        fields = settings_fields(_finish_args(build_parser().parse_args(["--connect", uri])))
        out["textual_before_begin"] = "textual" in sys.modules
        out["began"] = begin_first_look(fields)
        out["begun"] = len(begun._begun)
        if change_after_look:
            # once the child has read everything, the first PF's NUMA node changes (as a sysfs
            # attribute may while the app starts, before its udev watcher listens)
            assert next(iter(begun._begun.values())).ready(60)
            with open("/sys/bus/pci/devices/0000:03:00.0/numa_node", "w") as f:
                f.write("1\n")

    from vfpool_tui.core.forked_call import ForkedCall
    from vfpool_tui.core.scan import scan_to_json
    from vfpool_tui.tui.app import TuiSettings, make_app
    from vfpool_tui.tui.messages import ScanReady

    forks: list = []
    start = ForkedCall.start.__func__

    def counted(cls, fn):  # the real fork, counted
        forks.append(fn)
        return start(cls, fn)

    ForkedCall.start = classmethod(counted)
    ready: list = []

    async def run() -> dict:
        app = make_app(TuiSettings(**fields, watch_udev=False, animate=False, clock=lambda: "12:00:00"))
        hook = lambda m: ready.append(m) if isinstance(m, ScanReady) else None  # noqa: E731
        async with app.run_test(size=(100, 30), message_hook=hook) as pilot:
            for _ in range(1000):
                if app.backend.live.scan is not None and app.scans_applied >= len(ready) >= 1:
                    break
                await pilot.pause(0.01)
            await pilot.pause()
            shown = scan_to_json(app.scan)
            own = scan_to_json(app.backend.live.scan.result)
        return {"reasons": [m.reason for m in ready], "scans": [scan_to_json(m.scan) for m in ready],
                "shown": shown, "own": own}

    out.update(asyncio.run(run()))
    out["forks_by_app"] = len(forks)
    if head_start:
        out["left_begun"] = len(begun._begun)
    json.dump(out, sys.stdout)
    return 0


def _cli_begins(uri: str) -> int:
    """``vfpool-tui --connect URI`` through its own entry point (``cli.main``) up to the first
    look's begin (``core.head_start.begin``, called through): then this process ends (no app), and
    prints what the begin saw."""
    from vfpool_tui import cli
    from vfpool_tui.core import head_start

    begin = head_start.begin

    def seen(look) -> bool:
        began = begin(look)
        json.dump({"began": began, "textual": "textual" in sys.modules, "look": dataclasses.asdict(look)},
                  sys.stdout)
        raise SystemExit(0)  # what follows is the app (the other tests run it)

    head_start.begin = seen
    cli.main(["--connect", uri])
    return 3  # the entry point never got to the begin


def _begun_then_exit(uri: str) -> int:
    """A first look begun (``core.head_start``) that nobody takes: the process then ends. Prints
    the child's pid; the caller checks it did not outlive the process."""
    from vfpool_tui.core import head_start
    from vfpool_tui.core.scan import first_look_of

    look = first_look_of(uri, False, "udev")
    assert head_start.begin(look)
    print(head_start._begun[look]._pid, flush=True)
    return 0


def _main(argv: list[str]) -> int:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if argv and argv[0] == "watch":
        return _watch()
    if argv and argv[0] == "first":
        return _first(argv[1] if len(argv) > 1 else None)
    if argv and argv[0] == "app":
        return _app(argv[1], head_start="--head-start" in argv[2:],
                    change_after_look="--change-after-look" in argv[2:])
    if argv and argv[0] == "cli-begins":
        return _cli_begins(argv[1])
    if argv and argv[0] == "begun-then-exit":
        return _begun_then_exit(argv[1])
    if not argv or argv[0] != "discover":
        print("usage: umockdev_run.py discover [--netlink] | watch | first [URI] | app URI [--head-start] "
              "| cli-begins URI | begun-then-exit URI", file=sys.stderr)
        return 2
    from vfpool_tui.core.host.discovery import discover_host

    host = discover_host(with_netlink="--netlink" in argv[1:])
    json.dump(_jsonable(host), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

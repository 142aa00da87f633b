"""The first look in a forked child (core.forked_call, core.scan.first_look, tui.host_source).

The real path runs under umockdev in a fresh, single-threaded process, as the TUI's backend starts
it, against libvirt's test driver. The failure paths fork real children that fail, hang or are
cancelled; nothing is mocked.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from umockdev_run import HOSTS, UMOCKDEV_RUN, run_in_testbed

from vfpool_tui.core.forked_call import ForkedCall, safe_to_fork
from vfpool_tui.core.model import Host
from vfpool_tui.core.scan import FirstLook
from vfpool_tui.tui.host_source import UdevSource
from vfpool_tui.tui.libvirt_thread import LibvirtThread


def _gone(pid: int) -> bool:
    """The child has been reaped (no zombie left behind)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.skipif(UMOCKDEV_RUN is None, reason="umockdev-run missing")
def test_the_tuis_first_discovery_runs_in_a_child_and_finds_what_discovery_finds_here():
    import json

    proc = run_in_testbed(HOSTS / "intel-82599.umockdev", "first")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["threads"] == 1  # nothing started a thread before the backend's first discovery
    assert out["forked"] is True
    assert out["same"] is True  # the child's Host equals discover_host() run in the parent
    assert [pf["pci"] for pf in out["first"]["pfs"]] == ["0000:03:00.0", "0000:03:00.1"]
    assert sum(len(pf["vfs"]) for pf in out["first"]["pfs"]) > 0
    assert out["children_left"] is False


@pytest.mark.skipif(UMOCKDEV_RUN is None, reason="umockdev-run missing")
def test_the_first_look_reads_libvirt_too_and_shows_what_a_scan_here_shows():
    import json

    from paths import DATA

    node = DATA / "nodes" / "holders.xml"
    proc = run_in_testbed(HOSTS / "intel-82599.umockdev", "first", f"test://{node}")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["forked"] is True and out["same"] is True and out["children_left"] is False
    preview, here = out["preview"], out["scan_here"]
    assert preview is not None and preview["guests"]  # the child read libvirt
    assert preview == here  # every guest, pool, VF holder and problem as a scan in the parent


@pytest.mark.skipif(UMOCKDEV_RUN is None, reason="umockdev-run missing")
def test_the_app_shows_the_first_look_then_its_own_read_of_the_same_host():
    import json

    from paths import DATA

    node = DATA / "nodes" / "holders.xml"
    proc = run_in_testbed(HOSTS / "intel-82599.umockdev", "app", f"test://{node}", timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    # two start-up scans: the child's first look, then the one of the app's own connection
    assert out["reasons"] == ["startup", "startup"]
    first, own = out["scans"]
    assert first["guests"] and first == own == out["own"] == out["shown"]


def test_the_host_comes_from_another_process():
    parent = os.getpid()
    forked = ForkedCall.start(lambda: Host(errors=(f"pid {os.getpid()}",)))
    assert forked is not None
    host = forked.result(timeout=30, expect=Host)
    assert host is not None and host.errors and host.errors[0] != f"pid {parent}"
    assert _gone(forked._pid)


def test_a_discovery_that_raises_in_the_child_gives_none_and_is_run_here_instead():
    def broken() -> Host:
        raise PermissionError("sysfs says no")

    forked = ForkedCall.start(broken)
    assert forked is not None
    assert forked.result(timeout=30, expect=Host) is None
    assert _gone(forked._pid)

    # what the backend does with that None: the discovery again, here, so the error is the real one
    calls = []

    def here() -> Host:
        calls.append(os.getpid())
        raise PermissionError("sysfs says no")

    source = UdevSource(lambda _m: None, here, False, threading.Event())
    source._forked = ForkedCall.start(broken)  # the backend's own fork runs the real first look
    assert source.preview() is None
    with pytest.raises(PermissionError, match="sysfs says no"):
        source.host(None)
    assert calls == [os.getpid()]


def test_a_child_that_hangs_is_killed_after_the_timeout():
    forked = ForkedCall.start(lambda: time.sleep(60))
    assert forked is not None
    t0 = time.monotonic()
    assert forked.result(timeout=0.3, expect=Host) is None
    assert time.monotonic() - t0 < 5
    assert _gone(forked._pid)


def test_cancel_reaps_the_child_and_result_then_gives_nothing():
    forked = ForkedCall.start(lambda: time.sleep(60))
    assert forked is not None
    forked.cancel()
    assert _gone(forked._pid)
    assert forked.result(timeout=0.1, expect=Host) is None
    forked.cancel()  # twice is harmless


def test_what_the_child_sends_must_be_what_is_expected():
    forked = ForkedCall.start(lambda: "not a first look")
    assert forked is not None
    assert forked.result(timeout=30, expect=FirstLook) is None


def test_no_fork_beside_other_threads():
    assert safe_to_fork() == (threading.active_count() == 1)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    try:
        assert not safe_to_fork()
    finally:
        stop.set()
        t.join()


def test_the_libvirt_thread_starts_with_its_first_call():
    before = {t.ident for t in threading.enumerate()}
    worker = LibvirtThread(name="vfpool-test-lazy")
    try:
        assert not any(t.name == "vfpool-test-lazy" for t in threading.enumerate())
        assert worker.submit(lambda: threading.current_thread().name).result(timeout=10) == "vfpool-test-lazy"
        assert any(t.name == "vfpool-test-lazy" for t in threading.enumerate() if t.ident not in before)
    finally:
        worker.shutdown()


def test_the_child_writes_nothing_to_the_terminal(capfd):
    import sys

    def noisy() -> Host:
        print("from the child", flush=True)
        print("to stderr", file=sys.stderr, flush=True)
        os.write(2, b"straight to fd 2\n")
        return Host()

    forked = ForkedCall.start(noisy)
    assert forked is not None
    assert forked.result(timeout=30, expect=Host) == Host()
    out, err = capfd.readouterr()
    assert "child" not in out and "stderr" not in err and "fd 2" not in err


def test_a_first_look_that_hangs_does_not_hold_the_connection_back():
    # the backend's connect waits for the child's scan only so long; the host is then waited for
    # where the scan needs it, and a child that answers late still gives it
    source = UdevSource(lambda _m: None, None, False, threading.Event())
    source._forked = ForkedCall.start(lambda: (time.sleep(1.0), FirstLook(Host(errors=("late",))))[1])
    t0 = time.monotonic()
    assert source.preview(wait=0.2) is None
    assert time.monotonic() - t0 < 0.9
    assert source.host(None).errors == ("late",)  # the same child, waited for here

    source._forked = ForkedCall.start(lambda: time.sleep(60))
    assert source.preview(wait=0.1) is None
    pid = source._forked._pid
    source.stop()  # the app ends: the child is killed and reaped
    assert _gone(pid)

"""The first look begun before the UI is imported (core.head_start, tui.run.begin_first_look).

The end-to-end ones run in a fresh process under umockdev (as ``vfpool-tui`` starts: single-threaded, Textual
not imported yet), against libvirt's test driver; nothing is mocked. The app's own forks are
counted by a wrapper that calls the real ``ForkedCall.start``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time

import pytest
from paths import DATA
from umockdev_run import HOSTS, UMOCKDEV_RUN, run_in_testbed

from vfpool_tui.core import head_start
from vfpool_tui.core.scan import FirstLookOf, first_look_of

needs_umockdev = pytest.mark.skipif(UMOCKDEV_RUN is None, reason="umockdev-run missing")
NODE = DATA / "nodes" / "holders.xml"


def _run(mode: str, *flags: str) -> dict:
    """``tests/support/umockdev_run.py MODE test://NODE FLAGS`` on the Intel host; its JSON."""
    proc = run_in_testbed(HOSTS / "intel-82599.umockdev", mode, f"test://{NODE}", *flags, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@needs_umockdev
def test_the_command_begins_the_look_before_textual_and_the_app_takes_that_one():
    out = _run("app", "--head-start")
    # begun from the command line's settings, before anything imported Textual
    assert out["textual_before_begin"] is False
    assert out["began"] is True and out["begun"] == 1
    # the app's backend asked for the same look, took that child, and forked none of its own
    assert out["left_begun"] == 0
    assert out["forks_by_app"] == 0
    # what it shows: the child's look first, then its own connection's read, the same host
    assert out["reasons"] == ["startup", "startup"]
    first, own = out["scans"]
    assert first["guests"] and first == own == out["own"] == out["shown"]


@needs_umockdev
def test_cards_changed_after_the_early_look_show_with_the_apps_own_read():
    """The early child read sysfs before the app and its udev watcher started: a change meanwhile
    sends the app no event. The first paint shows the child's look; the app's own read, right
    after, reads the cards again and shows the change."""
    out = _run("app", "--head-start", "--change-after-look")
    assert out["forks_by_app"] == 0 and out["reasons"] == ["startup", "startup"]
    first, own = out["scans"]

    def numa(scan: dict) -> int:
        return next(pf["numa_node"] for pf in scan["pfs"] if pf["pci"] == "0000:03:00.0")

    assert numa(first) == 0  # as the child read it
    assert numa(own) == 1 and numa(out["shown"]) == 1  # read again: what the screen shows now


@needs_umockdev
def test_the_entry_point_itself_begins_the_look_before_textual():
    out = _run("cli-begins")
    assert out == {"began": True, "textual": False,
                   "look": {"uri": f"test://{NODE}", "readonly": os.geteuid() != 0, "discovery": "udev",
                            "with_libvirt": True}}


@needs_umockdev
def test_without_the_head_start_the_app_forks_its_own_look():
    """The same run without ``begin_first_look``: the counter above does see the app's fork."""
    out = _run("app")
    assert out["forks_by_app"] == 1
    assert out["reasons"] == ["startup", "startup"]


@needs_umockdev
def test_a_look_nobody_takes_is_stopped_when_the_process_ends(tmp_path):
    # the look's libvirt open reads a FIFO nobody writes: the child would wait there forever
    fifo = tmp_path / "node.xml"
    os.mkfifo(fifo)
    proc = run_in_testbed(HOSTS / "intel-82599.umockdev", "begun-then-exit", f"test://{fifo}", timeout=60)
    assert proc.returncode == 0, proc.stderr
    pid = int(proc.stdout.split()[0])
    try:
        deadline = time.monotonic() + 5
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{pid}")  # killed and reaped by its parent at exit
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # a failure leaves no child behind


def test_a_look_is_taken_once_and_only_for_the_same_host_and_flags():
    look = FirstLookOf("test:///a.xml", False, "udev", True)
    assert look == first_look_of("test:///a.xml", False, None)
    marker = object()
    head_start._begun[look] = marker  # as begin() leaves it, without a child
    try:
        assert head_start.take(FirstLookOf("test:///b.xml", False, "udev", True)) is None
        assert head_start.take(FirstLookOf("test:///a.xml", True, "udev", True)) is None
        assert head_start.take(look) is marker
        assert head_start.take(look) is None
    finally:
        head_start._begun.pop(look, None)


def test_no_look_ahead_where_the_cards_come_through_libvirt(monkeypatch):
    assert first_look_of("qemu+ssh://root@hv2/system", None, None) is None
    assert first_look_of("qemu:///system", None, "libvirt") is None
    local = first_look_of("qemu:///system", True, None)
    assert local == FirstLookOf("qemu:///system", True, "udev", True)
    # cards of this machine, guests of another: the look reads no remote libvirt
    assert first_look_of("qemu+ssh://root@hv2/system", None, "udev").with_libvirt is False
    # the same when the remote URI is libvirt's default: the child never opens it (ssh could ask
    # for a password on the terminal the app is about to take)
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", "qemu+ssh://root@hv2/system")
    assert first_look_of(None, None, None) is None
    assert first_look_of(None, True, "udev") == FirstLookOf(None, True, "udev", False)

"""Live updates: a libvirt lifecycle event and a udev change reach the view without a key press,
through keyed updates (no table rebuilt, the cursor stays). Also: libvirt unreachable, read-only.
"""

from __future__ import annotations

import dataclasses

from tui_helpers import async_test, wait_for_scans, wait_until
from vfpool_tui.tui.messages import HostChanged
from vfpool_tui.tui.screens.guests import GuestsScreen
from vfpool_tui.tui.widgets.keyed_table import KeyedTable


@async_test
async def test_libvirt_lifecycle_event_updates_the_view(demo_app):
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_scans(pilot)
        assert app.backend.events, "lifecycle callbacks should be registered on the test driver"
        await pilot.press("g")
        await wait_until(pilot, lambda: isinstance(app.screen, GuestsScreen))
        guests = app.screen.query_one("#guests", KeyedTable)
        await wait_until(pilot, lambda: guests.row_count > 0)
        uuid = app.index.guest_by_name["app-03"].uuid
        guests.select_key(uuid)
        assert guests.get_cell(uuid, "state").plain == "running"
        pool_before = app.index.pool_by_name["sriov-pool-b"].in_use
        scans = app.scans_applied

        # destroy the guest on the app's own connection (its libvirt thread): libvirt emits
        # VIR_DOMAIN_EVENT_STOPPED, and nobody presses a key
        app.backend.call(lambda conn: conn.lookupByName("app-03").destroy())
        await wait_until(pilot, lambda: app.scans_applied > scans
                         and guests.get_cell(uuid, "state").plain == "shut off")
        assert any(e == "domain app-03 stopped" for e in app.events_seen)
        assert app.index.pool_by_name["sriov-pool-b"].in_use == pool_before - 1
        # keyed update: one row changed in place, nothing added or removed, cursor kept
        assert guests.stats["added"] == 0 and guests.stats["removed"] == 0
        assert 0 < guests.stats["updated_cells"] <= 3
        assert guests.current_key == uuid

        # a network event too: stop the pool
        scans = app.scans_applied
        app.backend.call(lambda conn: conn.networkLookupByName("sriov-pool-a").destroy())
        await wait_until(pilot, lambda: app.scans_applied > scans
                         and not app.index.pool_by_name["sriov-pool-a"].active)
        assert "network sriov-pool-a stopped" in app.events_seen


@async_test
async def test_udev_change_updates_one_cell(demo_app, host_box):
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_scans(pilot)
        vfs = app.screen.query_one("#vfs", KeyedTable)
        await pilot.press("enter")
        vfs.select_key("0000:03:10.6")
        assert vfs.get_cell("0000:03:10.6", "driver").plain == "ixgbevf"

        # what udev reports when VF 3 of enp3s0f0 is rebound to vfio-pci: the scan now sees it
        host = host_box.host
        pf = host.pfs[0]
        vf3 = dataclasses.replace(pf.vfs[3], driver="vfio-pci", netdev=None)
        pf2 = dataclasses.replace(pf, vfs=pf.vfs[:3] + (vf3,) + pf.vfs[4:])
        host_box.host = dataclasses.replace(host, pfs=(pf2,) + host.pfs[1:])
        scans = app.scans_applied
        app.post_message(HostChanged("bind", "0000:03:10.6"))  # as the udev watcher thread posts it
        await wait_until(pilot, lambda: app.scans_applied > scans)
        assert vfs.get_cell("0000:03:10.6", "driver").plain == "vfio-pci"
        assert vfs.stats == {"added": 0, "removed": 0, "updated_cells": 1, "sorted": 0, "rebuilt": 0}
        assert vfs.current_key == "0000:03:10.6"
        assert "udev bind 0000:03:10.6" in app.status.last_event


@async_test
async def test_burst_of_events_gives_one_scan(demo_app):
    app = demo_app(debounce=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_scans(pilot)
        scans = app.scans_applied
        for i in range(10):
            app.post_message(HostChanged("change", f"0000:03:10.{i % 8}"))
        await pilot.pause(0.6)
        await wait_until(pilot, lambda: not app.status.scanning)
        assert app.scans_applied == scans + 1


@async_test
async def test_refresh_key_rescans(demo_app):
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_scans(pilot)
        await pilot.press("r")
        await wait_for_scans(pilot, 2)


@async_test
async def test_libvirt_unreachable_still_opens(demo_app, tmp_path):
    app = demo_app(uri=f"test://{tmp_path}/missing.xml")
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_for_scans(pilot)
        assert app.status.connected is False
        assert "cannot connect to libvirt" in app.status.error
        assert app.status.readonly  # nothing can change without libvirt
        # the hardware is still there
        pfs = app.screen.query_one("#pfs", KeyedTable)
        assert len(pfs.shown_keys) == 6
        banner = app.screen.query_one("#banner")
        from tui_helpers import static_text
        text = static_text(banner, width=200)
        assert "no libvirt" in text and "r: reconnect" in text
        # mutating actions are visibly disabled
        assert app.check_action("new_pool", ()) is None
        tasks = {o.id: o.prompt.plain for o in app.screen.query_one("#tasks").options}
        assert "read-only" in tasks["new_pool"]
        # r retries the connection
        scans = app.scans_applied
        await pilot.press("r")
        await wait_for_scans(pilot, scans + 1)
        assert app.status.connected is False


@async_test
async def test_readonly_disables_changes(demo_app):
    app = demo_app(readonly=True)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_for_scans(pilot)
        assert app.status.readonly and "--readonly" in app.status.readonly_why
        assert app.check_action("convert", ()) is None
        tasks = {o.id: o.prompt.plain for o in app.screen.query_one("#tasks").options}
        assert "read-only" in tasks["convert"]


@async_test
async def test_reconcile_shows_a_change_that_sent_no_event(demo_app):
    """`virsh autostart` emits no libvirt event: the periodic reconcile rescans within a few seconds,
    no key pressed (tests/real/ does the same with attach-device --config on a real daemon)."""
    app = demo_app(reconcile_every=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_scans(pilot)
        before = app.index.guest_by_name["app-03"].autostart
        events = list(app.events_seen)
        app.backend.call(lambda conn: conn.lookupByName("app-03").setAutostart(not before))
        await wait_until(pilot, lambda: app.index.guest_by_name["app-03"].autostart is (not before),
                         timeout=5)
        assert app.events_seen == events  # no event told us: the reconcile did
        assert app.backend.reconcile_scans >= 1 and "reconcile" in app.backend.timings


@async_test
async def test_lost_connection_says_reconnecting_and_comes_back_read_write(demo_app):
    """What the backend posts when libvirtd goes away and comes back (the real daemon restart is in
    tests/real/test_live_daemon.py): the header says so, and read-write returns with libvirt."""
    from vfpool_tui.tui.messages import ConnectionChanged
    from tui_helpers import static_text

    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_scans(pilot)
        assert not app.readonly
        app.post_message(ConnectionChanged(False, None, True, "the libvirt connection was closed",
                                           reconnecting=True))
        await wait_until(pilot, lambda: app.status.reconnecting)
        assert app.readonly and app.status.readonly_why == "no libvirt"
        text = static_text(app.screen.query_one("#banner"), width=200)
        assert "reconnecting" in text and "r: now" in text
        assert app.check_action("new_pool", ()) is None
        app.post_message(ConnectionChanged(True, app.status.uri, False, None, True))
        await wait_until(pilot, lambda: app.status.connected)
        assert not app.readonly and not app.status.reconnecting and app.status.readonly_why == ""
        assert app.check_action("new_pool", ()) is True


def _held_discovery(host_box):
    """(release, discover): a discovery that returns the demo host once ``release`` is set."""
    import threading

    release = threading.Event()

    def discover():
        release.wait(30)
        return host_box.host

    return release, discover


@async_test
async def test_a_discovery_that_hangs_holds_the_screens_back_half_a_second_at_most(demo_app, host_box):
    # the screens wait for the first discovery (alone it runs 4x quicker than beside Textual's
    # start-up), but a sysfs read that hangs must not leave the operator a blank terminal
    import time

    from vfpool_tui.tui.app import HEAD_START
    from vfpool_tui.tui.screens.host import HostScreen

    release, hanging_discovery = _held_discovery(host_box)
    app = demo_app(discover=hanging_discovery)
    t0 = time.monotonic()
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, HostScreen) and app.screen.is_mounted)
            assert time.monotonic() - t0 < HEAD_START + 3.0
            assert app.scans_applied == 0 and not release.is_set()  # still discovering: it waited, then went on
            release.set()
            await wait_for_scans(pilot)
            assert app.scan.host.pfs
    finally:
        release.set()


@async_test
async def test_the_first_scan_finds_the_start_up_heap_frozen(demo_app, host_box):
    # what exists when the screens are built (modules, classes, the app) is frozen before the first
    # scan allocates: otherwise a full collection, set off by the scan's objects, walks it all again
    # before the first paint. Held here by a discovery that waits until we have looked.
    import gc

    release, held_discovery = _held_discovery(host_box)
    app = demo_app(discover=held_discovery)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            assert app.scans_applied == 0 and gc.get_freeze_count() > 0
            release.set()
            await wait_for_scans(pilot)
    finally:
        release.set()
    assert gc.get_freeze_count() == 0


@async_test
async def test_the_heap_frozen_after_the_first_paint_is_given_back_when_the_app_ends(demo_app):
    # gc.freeze keeps full collections off the event-to-repaint path; objects frozen must not
    # outlive the app (a process that runs several apps, like this test run, would keep them all)
    import gc

    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_scans(pilot)
        await wait_until(pilot, lambda: gc.get_freeze_count() > 0)
    assert gc.get_freeze_count() == 0


@async_test
async def test_the_console_knows_the_app_size_without_asking_the_terminal(demo_app, monkeypatch):
    # Rich asks the terminal its size at every measure of a cell unless the console has one: a
    # syscall per cell (three when stdin is no tty), each waiting for the GIL beside a busy backend
    import os

    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for_scans(pilot)
        assert tuple(app.console.size) == (100, 30)
        await pilot.resize_terminal(90, 28)
        await wait_until(pilot, lambda: tuple(app.console.size) == (90, 28))
        asked = []
        monkeypatch.setattr(os, "get_terminal_size", lambda *a: asked.append(a) or os.terminal_size((1, 1)))
        app.request_scan("test")
        await wait_for_scans(pilot, 2)
        await pilot.press("g")  # a view whose table is filled now: every cell measured
        await pilot.pause()
        assert asked == []


@async_test
async def test_the_reconcile_does_not_rescan_while_nothing_changes(demo_app):
    # the backend's scan digests what it read; the reconcile digests libvirt the same way, so the
    # two meet while nothing changes (no rescan at every tick), and part as soon as something does.
    # The reconcile jobs are run here one by one (its own thread waits an hour).
    app = demo_app(reconcile_every=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_scans(pilot)
        backend = app.backend

        def reconcile_once() -> None:
            assert backend._reconciling.acquire(timeout=5)
            backend._submit(backend._reconcile_job).result(timeout=10)

        for _ in range(3):
            reconcile_once()
        assert backend.reconciles == 3 and backend.reconcile_scans == 0
        before = app.index.guest_by_name["app-03"].autostart
        backend.call(lambda conn: conn.lookupByName("app-03").setAutostart(not before)).result(timeout=10)
        reconcile_once()
        assert backend.reconcile_scans == 1
        await wait_until(pilot, lambda: app.index.guest_by_name["app-03"].autostart is (not before))
        reconcile_once()  # the rescan's own digest: met again
        assert backend.reconcile_scans == 1

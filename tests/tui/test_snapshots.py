"""SVG snapshots of the main views on the demo host at 80x24 and 160x48.

Time is frozen (the banner clock), animations are off, and each snapshot waits for the first scan.
Update with ``pytest tests/tui/test_snapshots.py --snapshot-update`` only after looking at the
report (snapshot_report.html) and agreeing with the change.
"""

from __future__ import annotations

import pytest

from tui_helpers import wait_for_scans, wait_until

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]


def _after_scan(*keys: str, until=None):
    async def run_before(pilot) -> None:
        await wait_for_scans(pilot)
        await wait_until(pilot, lambda: not pilot.app.status.scanning and pilot.app.status.connected)
        await pilot.pause(0.2)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        if until is not None:
            await wait_until(pilot, lambda: until(pilot.app))
        await pilot.pause(0.2)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_host(snap_compare, demo_app, size):
    # the first screen as painted after the scan, no key pressed: a frame painted before the table
    # measured its new rows used to leave the header at stale widths (see KeyedTable)
    assert snap_compare(demo_app(), terminal_size=size, run_before=_after_scan())


@pytest.mark.parametrize("size", SIZES)
def test_host_second_pf_vfs(snap_compare, demo_app, size):
    assert snap_compare(demo_app(), terminal_size=size, run_before=_after_scan("down", "enter"))


@pytest.mark.parametrize("size", SIZES)
def test_guests(snap_compare, demo_app, size):
    assert snap_compare(demo_app(), terminal_size=size, run_before=_after_scan(
        "g", until=lambda app: app.screen.query("#guests") and app.screen.query_one("#guests").row_count))


@pytest.mark.parametrize("size", SIZES)
def test_pools(snap_compare, demo_app, size):
    assert snap_compare(demo_app(), terminal_size=size, run_before=_after_scan(
        "o", until=lambda app: app.screen.query("#pools") and app.screen.query_one("#pools").row_count))


@pytest.mark.parametrize("size", SIZES)
def test_problems(snap_compare, demo_app, size):
    assert snap_compare(demo_app(), terminal_size=size, run_before=_after_scan(
        "p", until=lambda app: app.screen.query("#problems")
        and app.screen.query_one("#problems").row_count))


def test_vf_details(snap_compare, demo_app):
    assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=_after_scan(
        "enter", *["down"] * 4, "d"))


def test_help(snap_compare, demo_app):
    assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=_after_scan("question_mark"))


def test_readonly_host(snap_compare, demo_app):
    assert snap_compare(demo_app(readonly=True), terminal_size=(80, 24), run_before=_after_scan())

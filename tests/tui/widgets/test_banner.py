"""The status line: one row at 80 and 100 columns whatever it holds, the counts and problems always
there; the last event goes after a while."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult

from tui_helpers import async_test, wait_for_scans, wait_until
from vfpool_tui.tui.widgets.banner import Banner, Status, status_line

LONG_EVENT = "⟳ domain a-guest-with-a-rather-long-name-for-a-status-line started booted"
FULL = Status(demo=True, connected=True, readonly=True, readonly_why="--readonly", pfs=6, vfs=24,
              pools=4, guests=31, problems=6, scanned_at="12:00:00", last_event=LONG_EVENT)


@pytest.mark.parametrize("width", [78, 98])  # 80 and 100 columns less the banner's padding
def test_the_status_line_fits_and_keeps_the_counts(width):
    for status in (FULL, FULL.but(readonly=False), FULL.but(last_event=""), FULL.but(demo=False)):
        line = status_line(status, width).plain
        assert len(line) <= width and "\n" not in line
        assert "6 PFs 24 VFs 4 pools 31 guests" in line and "!6 problems" in line
        assert ("read-only" in line) == status.readonly


def test_what_is_left_out_first():
    # 100 columns: the reason for read-only goes first; the event is cut at the end
    line = status_line(FULL, 98).plain
    assert "(--readonly)" not in line and "│ 12:00:00 ⟳ domain a-gue" in line and line.endswith("…")
    # 80 columns: then the time (a fresh event is newer news) ...
    line = status_line(FULL.but(readonly=False), 78).plain
    assert "12:00:00" not in line and "!6 problems ⟳ domain a-gues" in line and line.endswith("…")
    # ... and the event rather than show a stub of it
    line = status_line(FULL, 78).plain
    assert "⟳" not in line and line.endswith("!6 problems")
    # with room, everything
    assert status_line(FULL, 200).plain.endswith(LONG_EVENT)
    assert "(--readonly)" in status_line(FULL, 200).plain
    # no event: the time comes back
    assert status_line(FULL.but(last_event="", readonly=False), 78).plain.endswith("│ 12:00:00")


class _BannerApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Banner()


@async_test
async def test_the_banner_is_one_row_at_80_and_100_columns():
    for width in (80, 100):
        app = _BannerApp()
        async with app.run_test(size=(width, 5)) as pilot:
            banner = app.query_one(Banner)
            banner.set_status(FULL)
            await pilot.pause()
            assert banner.size.height == 1
            assert "!6 problems" in banner.render_line(0).text
            # unreachable libvirt: three rows, none wrapped
            banner.set_status(FULL.but(error="cannot connect to qemu:///system: " + "x" * 200))
            await pilot.pause()
            assert banner.size.height == 3


@async_test
async def test_the_last_event_goes_after_a_while(demo_app):
    from vfpool_tui.tui.messages import LibvirtEvent

    app = demo_app(event_linger=0.5)
    async with app.run_test(size=(100, 24)) as pilot:
        await wait_for_scans(pilot)
        app.post_message(LibvirtEvent("domain", "app-03", "stopped"))
        await wait_until(pilot, lambda: "app-03" in app.status.last_event)
        await wait_until(pilot, lambda: app.status.last_event == "", timeout=30)
        banner = app.screen.query_one(Banner)
        await wait_until(pilot, lambda: "app-03" not in banner.render_line(0).text)

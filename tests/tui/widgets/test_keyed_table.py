"""KeyedTable on its own: a header painted before the table measured new rows is not kept."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from tui_helpers import async_test
from vfpool_tui.tui.view import Row
from vfpool_tui.tui.widgets.keyed_table import KeyedTable


class _TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield KeyedTable([("name", "Name"), ("vfs", "VFs")], id="t")


def _row(key: str, name: str, vfs: str) -> Row:
    return Row(key, (Text(name), Text(vfs)), f"{name} {vfs}")


@async_test
async def test_header_follows_column_widths_measured_after_a_paint():
    # DataTable measures new cells on its own idle; a frame painted before that (the compositor
    # runs beside the table's message queue, so it happens at random) rendered the header with the
    # old widths, and the header kept them: "Name VFs" over "enp134s0f0np0  4/8".
    app = _TableApp()
    async with app.run_test(size=(60, 6)) as pilot:
        table = app.query_one(KeyedTable)
        await pilot.pause()
        for rows in ([_row("a", "enp3s0f0", "8/63")],
                     [_row("a", "enp3s0f0", "8/63"), _row("b", "enp134s0f0np0", "4/8")]):
            table.set_rows(rows)
            early = table.render_line(0).text  # the paint that lands before the table's idle
            await pilot.pause()
            header = table.render_line(0).text
            widest = table.render_line(len(rows)).text
            assert header.index("VFs") == widest.index("/") - 1, (early, header, widest)


class _HolderApp(App[None]):
    def compose(self) -> ComposeResult:
        yield KeyedTable([("pci", "PCI"), ("holder", "Holder"), ("pool", "Pool")], id="t")


def _vf(key: str, holder: str, pool: str = "sriov-pool-a") -> Row:
    return Row(key, (Text(key), Text(holder), Text(pool)), f"{key} {holder} {pool}")


@async_test
async def test_columns_shrink_back_when_the_long_rows_are_gone():
    # the VF pane of one PF (short holders), then another (a long holder), then the first again:
    # the Holder column was left at the long width and Pool fell off an 80-column screen
    app = _HolderApp()
    async with app.run_test(size=(40, 8)) as pilot:
        table = app.query_one(KeyedTable)
        short = [_vf("0000:03:10.0", "? one of 3"), _vf("0000:03:10.2", "web01")]
        table.set_rows(short)
        await pilot.pause()
        before = table.render_line(0).text
        assert "Pool" in before
        table.set_rows([_vf("0000:03:10.1", "legacy-app, legacy-app-clone")])
        await pilot.pause()
        assert "Pool" not in table.render_line(0).text  # 40 columns: the long holder pushes it off
        table.set_rows(short)
        await pilot.pause()
        assert table.render_line(0).text == before
        assert "sriov-pool-a" in table.render_line(1).text
        # a cell that gets narrower in place shrinks its column too
        table.set_rows([_vf("0000:03:10.0", "legacy-app, legacy-app-clone")])
        await pilot.pause()
        table.set_rows([_vf("0000:03:10.0", "web01")])
        await pilot.pause()
        assert table.columns["holder"].content_width == len("Holder")


@async_test
async def test_home_and_end_move_the_row_cursor():
    app = _HolderApp()
    async with app.run_test(size=(30, 12)) as pilot:
        table = app.query_one(KeyedTable)
        table.set_rows([_vf(f"0000:03:10.{i}", f"guest-with-a-long-name-{i}") for i in range(6)])
        table.focus()
        await pilot.pause()
        await pilot.press("end")
        assert table.cursor_row == 5 and table.current_key == "0000:03:10.5"
        assert table.scroll_x == 0  # not sideways
        await pilot.press("home")
        assert table.cursor_row == 0 and table.scroll_x == 0

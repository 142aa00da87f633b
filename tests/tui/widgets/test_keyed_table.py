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


class _CountingTable(KeyedTable):
    """Counts the cells DataTable renders (``_render_cell`` runs only for rows whose cached line
    is gone): how much of the table a change repainted."""

    rendered = 0

    def _render_cell(self, *args, **kwargs):
        self.rendered += 1
        return super()._render_cell(*args, **kwargs)


class _WideApp(App[None]):
    def compose(self) -> ComposeResult:
        yield _CountingTable([("pci", "PCI"), ("holder", "Holder"), ("state", "State")], id="t")


def _lines(table: KeyedTable) -> list[str]:
    return [table.render_line(y).text for y in range(table.size.height)]


@async_test
async def test_a_cell_that_keeps_its_column_width_repaints_its_row_alone():
    # the update that follows a libvirt event changes a cell or two of a big table: re-rendering
    # every visible cell for it was most of the time from the event to its repaint (issue 14)
    app = _WideApp()
    async with app.run_test(size=(60, 24)) as pilot:
        table = app.query_one(_CountingTable)
        rows = [_vf3(i, f"guest-{i:02}", "running") for i in range(20)]
        table.set_rows(rows)
        await pilot.pause()
        table.rendered = 0
        rows[7] = _vf3(7, "guest-99", "shutoff")  # same widths as the cells it replaces
        table.set_rows(rows)
        assert table.stats["updated_cells"] == 2
        await pilot.pause()
        assert "guest-99" in table.render_line(8).text and "shutoff" in table.render_line(8).text
        assert 0 < table.rendered <= 3  # the one row's cells, not the 60 on screen
        assert all(f"guest-{i:02}" in table.render_line(i + 1).text for i in range(20) if i != 7)


def _vf3(i: int, holder: str, state: str) -> Row:
    return _vf(f"0000:03:10.{i}", holder, state)  # (the third cell in a table whose third column is State)


@async_test
async def test_in_place_updates_paint_what_a_fresh_table_paints():
    # whatever the sequence of changes (values wider, narrower, the widest one going, rows
    # going and coming, the cursor moving), the table shows what a table filled afresh with the
    # same rows shows: no stale cell, no stale width
    import random

    app = _WideApp()
    async with app.run_test(size=(70, 34)) as pilot:
        table = app.query_one(_CountingTable)
        table.styles.height = 16  # room for both, each the same size
        table.can_focus = False
        app.set_focus(None)
        for seed in range(6):
            rnd = random.Random(seed)
            rows: dict[int, Row] = {}
            for _step in range(12):
                for i in rnd.sample(range(12), rnd.randint(1, 5)):
                    if rnd.random() < 0.15:
                        rows.pop(i, None)
                    else:
                        rows[i] = _vf3(i, "g" * rnd.randint(1, 14), rnd.choice(["running", "off", "paused"]))
                wanted = [rows[i] for i in sorted(rows)]
                table.set_rows(wanted)
                if wanted and rnd.random() < 0.3:
                    table.move_cursor(row=rnd.randrange(len(wanted)))
                await pilot.pause()
                shown = _lines(table)
                fresh = _CountingTable([("pci", "PCI"), ("holder", "Holder"), ("state", "State")])
                await app.mount(fresh)
                fresh.styles.height = 16
                fresh.set_rows(wanted)
                fresh.move_cursor(row=table.cursor_row)
                await pilot.pause()
                assert not table.has_focus and not fresh.has_focus  # (a focused cursor paints otherwise)
                assert _lines(fresh) == shown, (seed, _step)
                await fresh.remove()


@async_test
async def test_cells_drawn_the_short_way_are_the_segments_datatable_draws(demo_app):
    # StableDataTable draws a one-line Text cell that fits without Rich's general layout; for
    # every cell of every table in the host and guests views (with the cursor on it or not, the
    # mouse over it or not, the table focused or not) the short way gives DataTable's own lines
    from textual.widgets import DataTable
    from tui_helpers import wait_for_scans

    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_scans(pilot, 1)
        short = total = 0
        for key in ("", "g"):
            if key:
                await pilot.press(key)
                await pilot.pause()
            tables = list(app.screen.query(KeyedTable))
            assert tables, app.screen
            for table in tables:
                for focused in (False, True):
                    if focused:
                        table.focus()
                        await pilot.pause()
                    base = table.rich_style
                    for r in range(table.row_count):
                        row_key = table._row_locations.get_key(r)
                        for c, column in enumerate(table.ordered_columns):
                            width = column.get_render_width(table)
                            for cursor, hover in ((False, False), (True, False), (False, True)):
                                table._cell_render_cache.clear()
                                lines = table._one_line_cell(row_key, r, c, base, width, cursor, hover)
                                table._cell_render_cache.clear()
                                theirs = DataTable._render_cell(table, r, c, base, width, cursor, hover)
                                total += 1
                                if lines is not None:
                                    short += 1
                                    assert lines == theirs, (table.id, r, column.key, cursor, hover)
                                # and through the cache, as painting asks for it
                                table._cell_render_cache.clear()
                                assert table._render_cell(r, c, base, width, cursor, hover) == theirs
        assert total > 500 and short >= 0.9 * total, (short, total)

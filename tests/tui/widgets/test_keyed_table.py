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

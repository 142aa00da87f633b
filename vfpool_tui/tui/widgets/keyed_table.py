"""A DataTable that takes a full list of keyed rows and applies only the difference.

``set_rows(rows)`` on each new scan: vanished keys are removed, changed cells go through
``update_cell``, new rows are added, and the table is sorted once if the order changed. All of it
inside ``app.batch_update()``, so one repaint. The cursor stays on the row the operator had
selected (by key), not on a row number. ``filter`` hides rows whose text lacks the substring.
Its header never stays at stale column widths: see ``StableDataTable``.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable
from textual.render import measure
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist, RowKey

from vfpool_tui.tui.view import Row


_ONE_LINE = Text("\n")  # what Rich joins a cell's lines with


def _width(value: object) -> int:
    return value.cell_len if isinstance(value, Text) else cell_len(str(value))


class StableDataTable(DataTable):
    """A DataTable whose column widths follow the cells it holds now, and whose Home/End move the
    row cursor.

    Three things DataTable (Textual 8.2.8) does not do:

    * Column widths only ever grow: ``remove_row`` (and ``update_cell`` without ``update_width``)
      leave a column as wide as the widest cell it ever held. A table refilled with another PF's
      rows kept the width of a long holder name, and the columns after it (Pool, Driver) fell off
      an 80-column screen. Here a removal makes the next idle measure every column afresh, and a
      cell whose width changes re-measures its column.
    * It measures new or changed cells later, on its own idle, and does not invalidate its render
      caches when that changes a column's width: a frame painted between adding rows and that idle
      kept the header (any cached line) at the old widths until its cache key happened to change.
    * Home/End scroll sideways; in a table with a row cursor they move it to the first/last row
      (ctrl+home/ctrl+end still do), as every operator tool does.

    And one thing it does slowly: any ``update_cell`` bumps ``_update_count``, a key of all its
    render caches, and repaints the whole widget, so one changed cell re-renders every visible cell
    (~0.15 ms each: 50-60 ms for the two tables of the host view on a 500-guest host, most of the
    time from a libvirt event to its repaint). A value that leaves its column as wide as it was
    changes nothing but its cell: here it drops that cell's cached render and its row's line, and
    repaints that row's region alone (nothing when it is scrolled out of view). A change of width,
    an added, removed or re-sorted row still goes the whole way.
    """

    BINDINGS = [
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]

    _measured_widths: tuple[int, ...] | None = None
    _remeasure = False  # a cell went away or got narrower: measure every column afresh
    _stale_cells: frozenset[tuple[RowKey, ColumnKey]] = frozenset()  # changed in place since the last paint

    def remove_row(self, row_key) -> None:
        super().remove_row(row_key)
        self._remeasure = True

    def update_cell(self, row_key, column_key, value, *, update_width: bool = False) -> None:
        row_key = RowKey(row_key) if isinstance(row_key, str) else row_key
        column_key = ColumnKey(column_key) if isinstance(column_key, str) else column_key
        if row_key not in self._row_locations or column_key not in self._column_locations:
            raise CellDoesNotExist(f"No cell exists for row_key={row_key!r}, column_key={column_key!r}.")
        before = self._data[row_key].get(column_key)
        if update_width or not self.is_mounted or not self._fits(row_key, column_key, before, value):
            # the column may change width: DataTable's own update_width path (which also shrinks
            # it), whatever the caller asked for, and the whole table repainted at the new widths
            super().update_cell(row_key, column_key, value,
                                update_width=update_width or _width(before) != _width(value))
            return
        self._data[row_key][column_key] = value
        # what is cached by position goes now (cheap); the renders keyed by cell go before the
        # next paint, once for every cell changed in between (``render_lines``)
        self._row_renderable_cache.clear()
        self._line_cache.clear()
        self._stale_cells = self._stale_cells | {(row_key, column_key)}
        self.refresh_row(self._row_locations.get(row_key))

    def _fits(self, row_key: RowKey, column_key: ColumnKey, before: object, value: object) -> bool:
        """True when putting ``value`` in place of ``before`` leaves the column as wide as it is."""
        if self._require_update_dimensions or self._remeasure or self._updated_cells:
            return False  # widths not measured yet: nothing to compare with
        column = self.columns[column_key]
        if not column.auto_width:
            return True
        old, new, widest = _width(before), _width(value), column.content_width
        if new > widest:
            return False
        if new == old or old < widest:
            return True
        # the old value was as wide as the column: does the header or another cell keep it so wide?
        return _width(column.label) >= widest or any(
            _width(cells.get(column_key)) >= widest for key, cells in self._data.items() if key != row_key)

    def render_lines(self, crop):
        if self._stale_cells:  # once per paint, however many cells changed in place
            self._forget(self._stale_cells)
            self._stale_cells = frozenset()
        return super().render_lines(crop)

    def _forget(self, cells: frozenset[tuple[RowKey, ColumnKey]]) -> None:
        """Drop what DataTable cached of ``cells``: their renders (keyed by row and column first)
        and the lines of their rows (keyed by row first); the others stay."""
        rows = {row for row, _ in cells}
        cell_cache, line_cache = self._cell_render_cache, self._row_render_cache
        for key in [k for k in cell_cache.keys() if (k[0], k[1]) in cells]:
            cell_cache.discard(key)
        for key in [k for k in line_cache.keys() if k[0] in rows]:
            line_cache.discard(key)

    def clear(self, columns: bool = False):
        self._remeasure = True
        return super().clear(columns)

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False) -> list[list[Segment]]:
        """DataTable's cell render, with a short way for the common cell: one line of ``Text``
        that fits its column. DataTable renders every cell through Rich's general layout
        (``Styled(Padding(cell))`` laid out and cropped as if it could wrap: ~50 us a cell, 20 ms
        of a 500-guest host's first paint); that cell's lines are known without it: the padding,
        the text's own segments, the spaces after it, each given the same pre and post styles.
        Same cache, same key, same segments (a test compares both ways on every cell shown);
        anything else (header, row labels, a taller row, another renderable, a justified,
        wrapped, tabbed or too-wide text) goes DataTable's way."""
        if row_index >= 0 and column_index >= 0:
            row_key = self._row_locations.get_key(row_index)
            key = (row_key, self._column_locations.get_key(column_index), base_style, cursor, hover,
                   self._show_hover_cursor, self._update_count, self._pseudo_class_state)
            cache = self._cell_render_cache
            if key in cache:
                return cache[key]
            lines = self._one_line_cell(row_key, row_index, column_index, base_style, width, cursor, hover)
            if lines is not None:
                cache[key] = lines
                return lines
        return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)

    def _one_line_cell(self, row_key: RowKey, row_index: int, column_index: int, base_style: Style,
                       width: int, cursor: bool, hover: bool) -> list[list[Segment]] | None:
        """The cell's lines the short way (``_render_cell``), or None when it is not that cell."""
        row = self.rows[row_key]
        if row.height != 1 or row.auto_height:
            return None
        cell = self._get_row_renderables(row_index).cells[column_index]
        pad = self.cell_padding
        if not isinstance(cell, Text) or cell.justify not in (None, "default"):
            return None
        plain = cell.plain
        fill = width - 2 * pad - cell.cell_len
        if fill < 0 or "\n" in plain or "\t" in plain:
            return None
        if self.app.console_options.justify not in (None, "default"):
            return None
        console = self.app.console
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, row_index < self.fixed_rows or column_index < self.fixed_columns, hover, cursor,
            self.show_cursor, self._show_hover_cursor, self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css")
        pre_style = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component_style
        # as Rich lays it out: the text joined into one line (its style becomes a span), padded
        edge = [Segment(" " * pad)] if pad else []
        line = [*edge, *_ONE_LINE.join((cell,)).render(console)]
        if fill:
            line.append(Segment(" " * fill))
        line += edge
        return [list(Segment.apply_style(line, console.get_style(pre_style), console.get_style(post_style)))]

    def _update_dimensions(self, new_rows) -> None:
        # Called by DataTable on idle after it re-measured columns. Its row, cell and line caches
        # are keyed by ``_update_count`` but not by the column widths: bump it when the widths
        # changed, so nothing painted with the previous widths (the header) is reused.
        if self._remeasure:
            self._remeasure = False
            console = self.app.console
            for column in self.columns.values():
                column.content_width = measure(console, column.label, 1)
            new_rows = list(self.rows)  # every row measured again, from the label width up
        super()._update_dimensions(new_rows)
        widths = (self._row_label_column_width,
                  *(column.get_render_width(self) for column in self.ordered_columns))
        if widths != self._measured_widths:
            self._measured_widths = widths
            self._update_count += 1
            self.refresh()


class KeyedTable(StableDataTable):
    DEFAULT_CSS = """
    KeyedTable { height: 1fr; }
    """

    def __init__(self, columns: Sequence[tuple[str, str]], *, empty: str = "nothing to show",
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False)
        self._columns_spec = tuple(columns)
        self._all: list[Row] = []
        self._shown: dict[str, tuple[Text, ...]] = {}
        self.filter_text = ""
        self.empty_message = empty
        # counters for tests and the benchmark: how the last set_rows() touched the table
        self.stats = {"added": 0, "removed": 0, "updated_cells": 0, "sorted": 0, "rebuilt": 0}

    def on_mount(self) -> None:
        for key, label in self._columns_spec:
            self.add_column(label, key=key)

    def _set_hover_cursor(self, active: bool) -> None:
        # No mouse-hover row highlight: the app is keyboard first, and a faint second cursor that
        # depends on where the mouse happens to be makes captures differ from run to run.
        super()._set_hover_cursor(False)

    # ------------------------------------------------------------------ public

    @property
    def current_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:
            return None
        return key.value

    @property
    def all_keys(self) -> list[str]:
        return [r.key for r in self._all]

    @property
    def shown_keys(self) -> list[str]:
        return [r.key.value for r in self.ordered_rows]

    def set_rows(self, rows: Sequence[Row]) -> None:
        self._all = list(rows)
        self._apply()

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._apply()

    def select_key(self, key: str) -> bool:
        try:
            index = self.get_row_index(key)
        except RowDoesNotExist:
            return False
        self.move_cursor(row=index)
        return True

    # ------------------------------------------------------------------ diff

    def _apply(self) -> None:
        needle = self.filter_text.casefold().strip()
        wanted = [r for r in self._all if not needle or needle in r.search]
        keep = self.current_key
        stats = {"added": 0, "removed": 0, "updated_cells": 0, "sorted": 0, "rebuilt": 0}
        col_keys = [k for k, _ in self._columns_spec]
        wanted_keys = {r.key for r in wanted}
        with self.app.batch_update():
            for key in [k for k in self._shown if k not in wanted_keys]:
                self.remove_row(key)
                del self._shown[key]
                stats["removed"] += 1
            for r in wanted:
                old = self._shown.get(r.key)
                if old is None:
                    self.add_row(*r.cells, key=r.key)
                    self._shown[r.key] = r.cells
                    stats["added"] += 1
                elif old != r.cells:
                    stored = list(old)
                    for i, (col, before, after) in enumerate(zip(col_keys, old, r.cells)):
                        if before != after:
                            self.update_cell(r.key, col, after)
                            stored[i] = after
                            stats["updated_cells"] += 1
                    self._shown[r.key] = tuple(stored)
            order = [r.key for r in wanted]
            if self.shown_keys != order:
                # the table holds our cell objects: rank rows by the identity of their first cell
                rank = {id(self._shown[k][0]): i for i, k in enumerate(order)}
                self.sort(key=lambda values: rank.get(id(values[0]), 1 << 30))
                stats["sorted"] = 1
            if keep is not None and keep in self._shown:
                self.select_key(keep)

        self.stats = stats

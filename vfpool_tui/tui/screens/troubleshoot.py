"""Troubleshoot VF exhaustion: capacity versus use per pool, who holds what, why a start failed,
and what to do about it.

Top: one row per hostdev pool, worst first (FULL, SHORT, INACTIVE and BLOCKED read as words, not
only colours). Below, for the selected pool: who waits for a VF, who blocks one of its VFs by
hard-coding it, who holds one; then ``core.health.diagnose``'s findings with what to do.
``w`` explains one guest (``diagnose_guest``), ``e`` takes libvirt's error as pasted; ``c`` and
``n`` open the conversion and pool screens. Nothing here changes libvirt, and nothing blocks: the
view only reads ``app.scan`` and redraws when a new scan arrives (``ViewScreen.refresh_view``).
"""

from __future__ import annotations


from rich.console import Group
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from vfpool_tui.core.health.diagnose import PoolUsage
from vfpool_tui.tui import facts
from vfpool_tui.tui import remedy_view
from vfpool_tui.tui import troubleshoot_view as tv
from vfpool_tui.tui.screens.base import ViewScreen
from vfpool_tui.tui.view import Index, safe
from vfpool_tui.tui.widgets.keyed_table import KeyedTable


class TroubleshootScreen(ViewScreen):
    HELP_TITLE = "Troubleshoot view"
    CSS_PATH = "troubleshoot.tcss"
    BINDINGS = [
        Binding("w", "why", "Why", priority=True),
        Binding("e", "error", "Error", priority=True),
        Binding("c", "convert", "Convert"),
        Binding("f", "fix", "Fix"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.pool_name: str | None = None  # the pool shown below
        self.usages: dict[str, PoolUsage] = {}
        self.who: dict[str, tv.WhoRow] = {}

    def compose_body(self) -> ComposeResult:
        with Vertical(id="ts-pools-box", classes="box"):
            yield KeyedTable(tv.POOL_COLUMNS, id="ts-pools", empty="no hostdev pool")
        with Vertical(id="ts-who-box", classes="box"):
            yield KeyedTable(tv.WHO_COLUMNS, id="ts-who", empty="no guest on this pool")
        with VerticalScroll(id="ts-find-box", classes="box"):
            yield Static("", id="ts-findings")

    def on_mount(self) -> None:
        self.query_one("#ts-pools", KeyedTable).focus()
        self.query_one("#ts-find-box").border_title = "Findings · what to do"
        super().on_mount()

    # ------------------------------------------------------------------ data

    def show(self, ix: Index) -> None:
        us = tv.usages(ix.scan)
        self.usages = {u.pool.name: u for u in us}
        wide = self.size.width >= 100
        pools = self.query_one("#ts-pools", KeyedTable)
        pools.set_rows(tv.pool_rows(us, 28 if wide else 16, 16 if wide else 8))
        box = self.query_one("#ts-pools-box")
        bad = sum(1 for u in us if tv.pool_mark(u).word != "ok")
        if not us:
            box.border_title = "Pools · none yet: press n to create one"
        else:
            attention = f" · {bad} need attention" if bad else ""
            box.border_title = f"Pools · {len(us)} · worst first{attention}"
        box.border_subtitle = tv.POOL_LEGEND
        key = pools.current_key
        self.show_pool(ix, key if key in self.usages else None)
        # a guest's explanation open over this view follows the new scan too
        from vfpool_tui.tui.screens.why import WhyScreen

        for screen in self.app.screen_stack:
            if isinstance(screen, WhyScreen) and screen.is_mounted:
                screen.explain()

    def show_pool(self, ix: Index, name: str | None) -> None:
        self.pool_name = name
        u = self.usages.get(name) if name else None
        who = self.query_one("#ts-who", KeyedTable)
        who_box = self.query_one("#ts-who-box")
        findings = self.query_one("#ts-findings", Static)
        if u is None:
            who.set_rows([])
            self.who = {}
            who_box.border_title = "Guests"
            who_box.border_subtitle = ""
            if ix.scan.pools:
                findings.update(Text(""))
            else:
                findings.update(Text("No hostdev pool on this connection: guests can only hard-code VFs. "
                                     "Press n to create a pool from a PF.", style="italic"))
            return
        rows, self.who = tv.who_rows(ix.scan, u)
        who.set_rows(rows)
        title = Text("Guests of ")
        title.append(safe(u.pool.name), style="bold")
        title.append(f" · {len(u.waiting)} waiting · {len(u.blocked)} blocking · {len(u.holders)} holding")
        who_box.border_title = title
        who_box.border_subtitle = tv.WHO_LEGEND
        findings.update(Group(tv.pool_text(ix.scan, u), remedy_view.offers_line(self.remedies(u))))

    @on(DataTable.RowHighlighted, "#ts-pools")
    def _pool_highlighted(self, event: DataTable.RowHighlighted) -> None:
        ix = self.app.index
        key = event.row_key.value if event.row_key else None
        if ix is not None and key != self.pool_name:
            self.show_pool(ix, key)

    @on(DataTable.RowSelected, "#ts-pools")
    def _pool_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a pool: into its guests."""
        self.query_one("#ts-who", KeyedTable).focus()

    @on(DataTable.RowSelected, "#ts-who")
    def _guest_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a guest: why it does not (or would not) start."""
        self.action_why()

    # ------------------------------------------------------------------ actions

    def selected_guest(self) -> tv.WhoRow | None:
        """The guest under the cursor of the guest table, when that table has the focus."""
        table = self.query_one("#ts-who", KeyedTable)
        if not table.has_focus or table.current_key is None:
            return None
        return self.who.get(table.current_key)

    def selected_guest_name(self) -> str | None:
        row = self.selected_guest()
        return row.guest if row else None

    def action_why(self) -> None:
        self.app.action_why(self.selected_guest_name() or "")

    def action_error(self) -> None:
        self.app.action_why(self.selected_guest_name() or "")

    def remedies(self, u: PoolUsage | None) -> list:
        """The remedies ``f`` offers for this pool (``tui/remedy_view.py``)."""
        ix = self.app.index
        if ix is None:
            return []
        settings = self.app.settings
        return remedy_view.offers(ix.scan, u, settings.sysfs_root or "/sys", settings.udev_root or "/")

    def action_fix(self) -> None:
        """Carry out a remedy for what the findings say (``tui/screens/remedy.py``)."""
        from vfpool_tui.tui.screens import remedy

        remedy.start(self, self.remedies(self.usages.get(self.pool_name) if self.pool_name else None))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "convert" and self.app.readonly:
            return None  # dimmed, as on the other views
        return True

    def action_convert(self) -> None:
        """The app's conversion screen; on a blocking guest, with that guest marked and this pool
        chosen (the plan there says whether the converter takes it, and why not)."""
        row = self.selected_guest()
        if row is None or row.role != "blocks":
            self.app.action_convert()
            return
        self.app.action_convert(mark=row.use.guest_uuid or row.guest, pool=self.pool_name)

    def go_back(self) -> None:
        if not self.query_one("#ts-pools", KeyedTable).has_focus:
            self.query_one("#ts-pools", KeyedTable).focus()
            return
        super().go_back()

    def details(self, ix: Index, table: KeyedTable, key: str):
        if table.id == "ts-pools":
            p = ix.pool_by_name.get(key)
            return facts.pool_details(ix, p, self.app.pool_history.summary(key)) if p else None
        row = self.who.get(key)
        g = ix.guest_by_name.get(row.guest) if row else None
        return facts.guest_details(ix, g) if g else None

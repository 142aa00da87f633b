"""Convert step 2: review each guest's XML change and the plan, then confirm (default: Cancel).

``dismiss(True)`` only after the operator confirmed in the dialog; Esc goes back to the pick step.
"""

from __future__ import annotations

from pathlib import Path

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from vfpool_tui.core.conversion.events import Plan
from vfpool_tui.tui import convert_engine, convert_view
from vfpool_tui.tui.view import safe


def confirm_body(plan: Plan, journal_dir: Path, timeout: float) -> Text:
    """Who is shut down (the downtime), who is only re-defined, the review's warnings again (a boot
    device that gets a new MAC loses its DHCP/PXE reservation), where the originals are kept."""
    running = [g.guest for g in plan.guests if g.was_running]
    off = [g.guest for g in plan.guests if not g.was_running]
    body = Text()
    if running:
        body.append("Downtime: ", style="bold red")
        body.append("these running guests are shut down (ACPI, waiting up to "
                    f"{timeout:g} s; f forces one off) and started again on the pool:\n")
        for name in running:
            body.append("  • ")
            body.append(safe(name), style="bold")
            body.append("\n")
    if off:
        body.append("Only re-defined (shut off, no downtime):\n")
        for name in off:
            body.append("  • ")
            body.append(safe(name), style="bold")
            body.append("\n")
    warnings = convert_view.plan_warnings(plan)
    if warnings:
        body.append("\nWarnings (from the review):\n", style="bold yellow")
        for w in warnings:
            body.append("  ▲ ", style="yellow")
            body.append(safe(w))
            body.append("\n")
    body.append("\nA failure rolls the guest back to its original definition. The original XML is "
                "saved first in ", style="dim")
    body.append(safe(str(journal_dir)), style="dim")
    body.append(".", style="dim")
    return body


class ReviewScreen(Screen[bool]):
    CSS_PATH = "convert.tcss"
    BINDINGS = [
        Binding("enter", "confirm", "Convert…"),
        Binding("y", "confirm", "Convert…", show=False),
        Binding("escape", "back", "Back"),
        Binding("pagedown", "page(1)", "Page ↓", show=False),
        Binding("pageup", "page(-1)", "Page ↑", show=False),
    ]

    def __init__(self, plan: Plan, journal_dir: Path) -> None:
        super().__init__()
        self.plan = plan
        self.journal_dir = journal_dir

    def compose(self) -> ComposeResult:
        title = Text("Convert guests to a pool · 2 review: ", style="bold")
        title.append(f"{len(self.plan.guests)} guest(s) → ")
        title.append(safe(", ".join(self.plan.networks)), style="bold")
        yield Static(title, id="convert-title")
        with VerticalScroll(id="review", classes="box"):
            yield Static(convert_view.plan_text(self.plan, convert_engine.SHUTDOWN_TIMEOUT),
                         id="review-plan")
            for gp in self.plan.guests:
                yield Static(convert_view.diff_header(gp), classes="diff-header")
                yield Static(Syntax(gp.diff().rstrip("\n") or "(no change)", "diff",
                                    theme="ansi_dark", word_wrap=False, background_color="default"),
                             classes="diff")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        box = self.query_one("#review")
        box.border_title = "Plan and XML changes (inactive definition)"
        box.border_subtitle = "enter: convert… · esc: back"
        box.focus()

    def action_page(self, direction: int) -> None:
        box = self.query_one("#review", VerticalScroll)
        box.scroll_page_down() if direction > 0 else box.scroll_page_up()

    def action_back(self) -> None:
        self.dismiss(False)

    def action_confirm(self) -> None:
        from vfpool_tui.tui.screens.convert_confirm import ConfirmScreen

        n = len(self.plan.guests)
        title = Text(f"Convert {n} guest(s) to ", style="bold")
        title.append(convert_view.pools_words(self.plan.networks), style="bold")
        title.append("?", style="bold")
        body = confirm_body(self.plan, self.journal_dir, convert_engine.SHUTDOWN_TIMEOUT)
        running = any(g.was_running for g in self.plan.guests)
        label = "Shut down and convert" if running else "Convert"
        self.app.push_screen(ConfirmScreen(title, body, label, mild=not running), self._answer)

    def _answer(self, yes: bool | None) -> None:
        if yes:
            self.dismiss(True)

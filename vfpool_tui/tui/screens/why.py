"""`w` / `e` on the troubleshoot view: why a guest does not (or would not) start, and what to do.

A modal over the troubleshoot view: the guest's name (completed from the scan), libvirt's error as
the operator pasted it (optional), and ``core.health.diagnose.diagnose_guest``'s findings, recomputed as
either changes and when a new scan arrives. It only reads ``app.scan``: nothing here calls libvirt.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Footer, Input, Label, Static, TextArea

from vfpool_tui.tui.troubleshoot_view import why_text


class WhyScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    WhyScreen { align: center middle; background: $background; }
    WhyScreen > Vertical {
        width: 96%; height: 92%; max-width: 140;
        border: round $accent; background: $surface;
    }
    WhyScreen #why-guest-row { height: 1; padding: 0 1; }
    WhyScreen #why-guest-row Label { width: auto; padding-right: 1; text-style: bold; }
    WhyScreen #why-guest { border: none; height: 1; padding: 0 1; width: 1fr; background: $boost; }
    WhyScreen #why-error-label { padding: 0 1; margin-top: 1; text-style: bold; }
    WhyScreen #why-error { border: none; height: 3; padding: 0 1; margin: 0 1; background: $boost; }
    WhyScreen #why-error:focus { border: none; }
    WhyScreen #why-scroll { height: 1fr; padding: 0 1; margin-top: 1; }
    """
    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("tab", "app.focus_next", "Next field", show=False),
        Binding("shift+tab", "app.focus_previous", "Previous field", show=False),
    ]

    def __init__(self, guest: str = "", focus_error: bool = False) -> None:
        super().__init__()
        self.guest = guest
        self.error = ""
        self.focus_error = focus_error

    def compose(self) -> ComposeResult:
        scan = self.app.scan
        names = sorted((g.name for g in scan.guests), key=str.casefold) if scan is not None else []
        box = Vertical(id="why-box")
        box.border_title = "Why does a guest not start?"
        box.border_subtitle = "→ completes · tab next field · Esc back"
        with box:
            with Horizontal(id="why-guest-row"):
                yield Label("Guest")
                yield Input(self.guest, placeholder="guest name (→ completes)", id="why-guest",
                            suggester=SuggestFromList(names, case_sensitive=True))
            yield Label("libvirt's error when the start failed (paste it; optional):", id="why-error-label")
            yield TextArea("", id="why-error", soft_wrap=True, show_line_numbers=False,
                           tab_behavior="focus", compact=True,
                           placeholder="e.g. internal error: network '…' requires exclusive access …")
            with VerticalScroll(id="why-scroll"):
                yield Static("", id="why-findings")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        if self.focus_error:
            self.query_one("#why-error", TextArea).focus()
        elif self.guest:
            self.query_one("#why-scroll").focus()
        else:
            self.query_one("#why-guest", Input).focus()
        self.explain()

    def explain(self) -> None:
        """Recompute from the current scan (also called when a new scan arrives)."""
        self.query_one("#why-findings", Static).update(why_text(self.app.scan, self.guest, self.error))
        title = Text("Why does ")
        title.append(self.guest.strip() or "a guest", style="bold")
        title.append(" not start?")
        self.query_one("#why-box").border_title = title

    @on(Input.Changed, "#why-guest")
    def _guest_changed(self, event: Input.Changed) -> None:
        self.guest = event.value
        self.explain()

    @on(Input.Submitted, "#why-guest")
    def _guest_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#why-scroll").focus()

    @on(TextArea.Changed, "#why-error")
    def _error_changed(self, event: TextArea.Changed) -> None:
        self.error = event.text_area.text
        self.explain()

    def action_close(self) -> None:
        self.dismiss(None)

"""`w` (troubleshoot and guests views, the palette) / `e`: why a guest does not (or would not)
start, and what to do.

A modal over the view: the guest's name (completed from the scan), libvirt's error as the operator
pasted it (optional), and ``core.health.diagnose.diagnose_guest``'s findings, recomputed as either
changes and when a new scan arrives. It only reads ``app.scan``: nothing here calls libvirt.

The error box has the focus when the dialog opens: what the operator types or pastes lands there.
An error belongs to the guest it was entered for (``error_for``): changing the guest afterwards does
not explain that error for the new one. An error entered with no guest names one where libvirt's
text allows (``error_guests``: the domain in "PCI device ... in use by driver QEMU, domain D" holds
the VF, so the failed start is the other guest's): the Guest field is filled with it. A paste into
the Guest field that is an error goes to the error box instead of replacing the name.
"""

from __future__ import annotations

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Footer, Input, Label, Static, TextArea

from vfpool_tui.core.health.diagnose import classify_error, error_guests
from vfpool_tui.tui.troubleshoot_view import why_text


def looks_like_an_error(text: str) -> bool:
    """Pasted text that is libvirt's error rather than a guest's name."""
    return classify_error(text) is not None or "\n" in text.strip() or "error:" in text


class GuestInput(Input):
    """The Guest field: a paste that is an error goes to the error box, the name stays."""

    def _on_paste(self, event: events.Paste) -> None:
        # Textual calls Input's own _on_paste after this one unless the default is prevented
        screen = self.screen
        if isinstance(screen, WhyScreen) and looks_like_an_error(event.text):
            event.prevent_default()
            event.stop()
            screen.take_error(event.text)


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
        # priority: the focus moves before the next key is handled, so text typed right after
        # Tab lands in the field it moved to (not in the pane it left, nor as the app's keys)
        Binding("tab", "app.focus_next", "Next field", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", "Previous field", show=False, priority=True),
    ]

    def __init__(self, guest: str = "", focus_error: bool = True) -> None:
        super().__init__()
        self.guest = guest
        self.error = ""
        self.error_for = ""  # the guest the error was entered for ("": none was chosen)
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
                # no select-all on focus: a paste after Tab must not replace the name
                yield GuestInput(self.guest, placeholder="guest name (→ completes)", id="why-guest",
                                 suggester=SuggestFromList(names, case_sensitive=True),
                                 select_on_focus=False)
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
        else:
            self.query_one("#why-guest", Input).focus()
        self.explain()

    def explain(self) -> None:
        """Recompute from the current scan (also called when a new scan arrives)."""
        self.query_one("#why-findings", Static).update(
            why_text(self.app.scan, self.guest, self.error, self.error_for))
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
        self.error_for = self.guest.strip()
        if not self.error_for and self.error.strip():
            self._guest_from_error()
        self.explain()

    def _guest_from_error(self) -> None:
        """No guest chosen: the one libvirt's error can only be about, if there is one."""
        scan = self.app.scan
        known = classify_error(self.error)
        whose = error_guests(scan, known) if scan is not None and known is not None else None
        if whose is not None and len(whose) == 1:
            self.error_for = self.guest = whose[0]
            field = self.query_one("#why-guest", Input)
            with field.prevent(Input.Changed):
                field.value = whose[0]

    def take_error(self, text: str) -> None:
        """Text pasted elsewhere that is an error: into the error box, which takes the focus."""
        area = self.query_one("#why-error", TextArea)
        area.text = text.strip()
        area.focus()

    def action_close(self) -> None:
        self.dismiss(None)

"""A yes/no dialog for anything that changes guests: default focus on Cancel, Esc cancels.

The body names the guests and the downtime; it is a ``rich.text.Text`` (names verbatim, no markup).
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmScreen(ModalScreen[bool]):
    """``dismiss(True)`` only on the explicit action button; everything else is ``False``."""

    AUTO_FOCUS = "#cancel"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("left", "app.focus_previous", "←", show=False),
        Binding("right", "app.focus_next", "→", show=False),
    ]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen #dialog {
        width: 74; max-width: 100%; height: auto; max-height: 100%;
        border: thick $error; background: $surface; padding: 0 1;
    }
    ConfirmScreen #dialog.-mild { border: thick $warning; }
    ConfirmScreen #title { text-style: bold; padding-bottom: 1; }
    ConfirmScreen #body-scroll { height: auto; max-height: 14; }
    ConfirmScreen #buttons { height: auto; align-horizontal: right; padding-top: 1; }
    ConfirmScreen Button { margin-left: 2; min-width: 12; }
    """

    def __init__(self, title: Text | str, body: Text, ok_label: str, *,
                 cancel_label: str = "Cancel", mild: bool = False) -> None:
        super().__init__()
        self._title = title if isinstance(title, Text) else Text(title)
        self._body = body
        self._ok_label = ok_label
        self._cancel_label = cancel_label
        self._mild = mild

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="-mild" if self._mild else ""):
            yield Static(self._title, id="title")
            with VerticalScroll(id="body-scroll"):
                yield Static(self._body, id="body")
            with Horizontal(id="buttons"):
                yield Button(self._cancel_label, id="cancel", variant="primary")
                yield Button(self._ok_label, id="ok", variant="warning" if self._mild else "error")

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def _cancelled(self) -> None:
        self.dismiss(False)

    def action_cancel(self) -> None:
        self.dismiss(False)

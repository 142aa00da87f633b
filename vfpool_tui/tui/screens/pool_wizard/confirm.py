"""The pool wizard's last question before anything changes."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from vfpool_tui.core.pools.create import PoolPlan
from vfpool_tui.tui import pool_wizard_view as view
from vfpool_tui.tui.view import safe


class ConfirmCreate(ModalScreen[bool]):
    """Last question before anything changes. Cancel has the focus: Enter alone changes nothing."""

    DEFAULT_CSS = """
    ConfirmCreate { align: center middle; }
    ConfirmCreate > Vertical { width: 76; max-width: 96%; height: auto; max-height: 90%;
                               border: round $warning; background: $surface; padding: 0 1; }
    ConfirmCreate #confirm-scroll { height: auto; max-height: 16; }
    ConfirmCreate #confirm-buttons { height: auto; align-horizontal: right; margin-top: 1; }
    ConfirmCreate Button { margin-left: 2; min-width: 12; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("left", "app.focus_previous", "", show=False),
        Binding("right", "app.focus_next", "", show=False),
    ]

    def __init__(self, plan: PoolPlan) -> None:
        super().__init__()
        self.plan = plan

    def compose(self) -> ComposeResult:
        box = Vertical(id="confirm-box")
        box.border_title = Text(f" Create network {safe(self.plan.name)}? ")
        box.border_subtitle = "Esc cancel · Tab/←→ choose"
        with box:
            with VerticalScroll(id="confirm-scroll", can_focus=False):
                yield Static(view.confirm_text(self.plan), id="confirm-text")
            with Horizontal(id="confirm-buttons"):
                yield Button("Create", id="confirm-create", variant="warning")
                yield Button("Cancel", id="confirm-cancel", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#confirm-cancel", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-create")

    def action_cancel(self) -> None:
        self.dismiss(False)

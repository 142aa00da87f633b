"""The details pane: a modal over the current view for one PF, VF, guest, pool or problem."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static
from rich.text import Text


class DetailsScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    DetailsScreen { align: center middle; background: $background; }
    DetailsScreen > Vertical {
        width: 96%; height: 92%; max-width: 140;
        border: round $accent; background: $surface;
    }
    DetailsScreen VerticalScroll { height: 1fr; padding: 0 1; }
    DetailsScreen .part { margin-bottom: 1; height: auto; }
    """
    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("q", "close", "Back", show=False),
        Binding("d", "close", "Back", show=False),
    ]

    def __init__(self, title: Text, parts: list) -> None:
        super().__init__()
        self.title_text = title
        self.parts = parts

    def compose(self) -> ComposeResult:
        box = Vertical(id="details-box")
        box.border_title = self.title_text
        box.border_subtitle = "Esc back · ↑↓ scroll"
        with box:
            with VerticalScroll(id="details-scroll"):
                for part in self.parts:
                    yield Static(part, classes="part")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#details-scroll").focus()

    def action_close(self) -> None:
        self.dismiss(None)

"""`?`: the keys, built from the live bindings of the view underneath, and the markers."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import ActiveBinding, Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from vfpool_tui.tui.view import legend

_EXTRA = [
    ("enter", "drill in: PF → its VFs → the guest holding the VF → details"),
    ("tab / shift+tab", "next / previous pane"),
    ("↑ ↓ pgup pgdn home end", "move in a table"),
    ("ctrl+p or :", "command palette: every action by name"),
]


def _binding_table(bindings: dict[str, ActiveBinding]) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold", no_wrap=True)
    t.add_column()
    seen: set[str] = set()
    for key, active in bindings.items():
        b: Binding = active.binding
        if not b.description or b.description in seen or key in ("tab", "shift+tab", "ctrl+c"):
            continue
        seen.add(b.description)
        shown = b.key_display or key
        desc = Text(b.description)
        if not active.enabled:
            desc.append("  (disabled here)", style="dim")
        t.add_row(Text(shown), desc)
    for key, what in _EXTRA:
        t.add_row(Text(key), Text(what))
    return t


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; background: $background; }
    HelpScreen > Vertical { width: 90%; max-width: 100; height: 90%; border: round $accent;
                            background: $surface; }
    HelpScreen VerticalScroll { padding: 0 1; }
    HelpScreen Static { height: auto; margin-bottom: 1; }
    """
    BINDINGS = [Binding("escape", "close", "Back"), Binding("q", "close", "Back", show=False),
                Binding("question_mark", "close", "Back", show=False)]

    def __init__(self, bindings: dict[str, ActiveBinding]) -> None:
        super().__init__()
        self.bindings = bindings

    def compose(self) -> ComposeResult:
        box = Vertical()
        box.border_title = "Help · keys"
        box.border_subtitle = "Esc back"
        with box:
            with VerticalScroll(id="help-scroll"):
                yield Static(_binding_table(self.bindings), id="help-keys")
                yield Static(Text.assemble(("VF markers\n", "bold underline"), legend()), id="help-legend")
                yield Static(Text.assemble(
                    ("Views\n", "bold underline"),
                    "h host: PFs, the selected PF's VFs, pools, tasks\n"
                    "g guests: VF use per guest, conversion candidates (→)\n"
                    "o pools: capacity, in use, free; FULL and INACTIVE stand out\n"
                    "p problems: what is wrong and what to do\n"
                    "t troubleshoot: pool capacity vs use, who holds and waits, why a start failed\n"
                    "The view follows udev and libvirt events by itself; r rescans now, "
                    "and reconnects when libvirt was unreachable."), id="help-views")

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def action_close(self) -> None:
        self.dismiss(None)

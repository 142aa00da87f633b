"""`?`: the keys, built from the live bindings of the view underneath, and the markers."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import ActiveBinding, Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from vfpool_tui.tui.view import legend

_EXTRA = [
    ("enter", "drill in: PF → its VFs → the guest holding the VF → details"),
    ("tab / shift+tab", "next / previous pane"),
    ("↑ ↓ pgup pgdn", "move in a table"),
    ("home / end", "first / last row of a table"),
    ("ctrl+p or :", "command palette: every action by name"),
]
_SKIP = ("tab", "shift+tab", "ctrl+c")


def _section(t: Table, title: str, rows: list[tuple[str, Text]]) -> None:
    if not rows:
        return
    if t.row_count:
        t.add_row("", "")
    t.add_row(Text(title, style="bold underline"), "")
    for key, desc in rows:
        t.add_row(Text(key), desc)


def _ours(node: object) -> set[tuple[str, str, str]]:
    """The bindings this app's own classes declare on ``node`` (not Textual's: ``super+c`` copy,
    ``ctrl+q`` quit are the framework's, and the app's own keys say the same)."""
    out: set[tuple[str, str, str]] = set()
    for cls in type(node).__mro__:
        if cls.__module__.startswith("vfpool_tui."):
            for b in cls.__dict__.get("BINDINGS", ()):
                if isinstance(b, Binding):
                    out.update((k.strip(), b.action, b.description) for k in b.key.split(","))
    return out


def _binding_table(bindings: dict[str, ActiveBinding], screen: object = None,
                   title: str = "This view") -> Table:
    """The keys the operator can press here, the view's own first, then the app's everywhere,
    then moving about. The focused widget's own keys (an input's ``super+c``, a table's
    ``ctrl+pageup``) are not listed: the last section says what they do in words."""
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold", no_wrap=True)
    t.add_column()
    seen: set[str] = set()
    here: list[tuple[str, Text]] = []
    everywhere: list[tuple[str, Text]] = []
    declared: dict[int, set[tuple[str, str, str]]] = {}
    for key, active in bindings.items():
        b: Binding = active.binding
        if not b.description or b.description in seen or key in _SKIP:
            continue
        own = screen is not None and active.node is screen
        app_key = isinstance(active.node, App)
        if not own and not app_key:
            continue  # a widget's own key
        ours = declared.setdefault(id(active.node), _ours(active.node))
        if (key, b.action, b.description) not in ours:
            continue
        seen.add(b.description)
        desc = Text(b.description)
        if not active.enabled:
            desc.append("  (disabled here)", style="dim")
        (here if own else everywhere).append((b.key_display or key, desc))
    _section(t, title, here)
    _section(t, "Everywhere" if here else "Keys", everywhere)
    _section(t, "Moving about", [(k, Text(w)) for k, w in _EXTRA])
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

    def __init__(self, bindings: dict[str, ActiveBinding], screen: object = None,
                 title: str = "This view") -> None:
        super().__init__()
        self.bindings = bindings
        self.view = screen  # the screen the help is about: its own keys come first
        self.view_title = title

    def compose(self) -> ComposeResult:
        box = Vertical()
        box.border_title = "Help · keys"
        box.border_subtitle = "Esc back"
        with box:
            with VerticalScroll(id="help-scroll"):
                yield Static(_binding_table(self.bindings, self.view, self.view_title), id="help-keys")
                yield Static(Text.assemble(("VF markers\n", "bold underline"), legend()), id="help-legend")
                yield Static(Text.assemble(
                    ("Views\n", "bold underline"),
                    "h host: PFs, the selected PF's VFs, pools, tasks\n"
                    "g guests: VF use per guest, conversion candidates (→); v all guests or VF users, "
                    "w why a guest does not start\n"
                    "o pools: capacity, in use, free; FULL and INACTIVE stand out\n"
                    "p problems: what is wrong and what to do\n"
                    "t troubleshoot: pool capacity vs use, who holds and waits; w why a guest does "
                    "not start, e explain libvirt's error, c convert a blocking guest\n"
                    "The view follows udev and libvirt events by itself; r rescans now, "
                    "and reconnects when libvirt was unreachable."), id="help-views")

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def action_close(self) -> None:
        self.dismiss(None)

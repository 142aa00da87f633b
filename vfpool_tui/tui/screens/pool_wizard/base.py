"""What the pool wizard's step screens share: the wizard's state, the base screen, the libvirt jobs."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Footer, Static

from vfpool_tui.core.host import sriov
from vfpool_tui.core.model import PF, Scan
from vfpool_tui.core.pools import create as pool_create
from vfpool_tui.core.pools.create import PfChoice, PoolPlan, PoolRefused, PoolResult, StepEvent
from vfpool_tui.tui import pool_wizard_view as view

# --------------------------------------------------------------------------- libvirt-thread jobs
# Each runs as fn(conn, ...) on the backend's libvirt thread (never on the event loop).


def network_names(conn) -> set[str]:
    if conn is None:
        raise PoolRefused("libvirt is not connected")
    return pool_create.network_names(conn)


def make_plan(conn, scan: Scan, kwargs: dict) -> PoolPlan:
    if conn is None:
        raise PoolRefused("libvirt is not connected: nothing can be checked or created")
    return pool_create.plan_pool(scan, conn=conn, **kwargs)


def execute(conn, plan: PoolPlan, on_step: Callable[[StepEvent], None]) -> PoolResult:
    if conn is None:
        raise PoolRefused("libvirt is not connected: nothing was done")
    return pool_create.execute(conn, plan, on_step)


# --------------------------------------------------------------------------- state


@dataclass
class WizardState:
    """What the steps carry from one to the next (each step screen reads and writes it)."""

    preselect: str | None = None  # PCI address of the PF to put the cursor on
    sysfs_root: str | None = None
    udev_root: str | None = None
    scan: Scan | None = None
    choices: dict[str, PfChoice] = field(default_factory=dict)
    choice: PfChoice | None = None
    numvfs: int | None = None  # count to set first; None keeps the PF's count
    via_vfs: bool = False  # the VFs step was shown on the way to the name
    name: str = ""  # the name step's fields, kept while going back and forth
    vlan: str = ""
    managed: bool = True
    taken: set[str] = field(default_factory=set)
    taken_known: bool = False
    plan: PoolPlan | None = None
    planning: bool = False
    running: bool = False
    events: list[StepEvent] = field(default_factory=list)
    result: PoolResult | None = None
    run_error: str | None = None
    closing: bool = False  # every step screen dismisses itself, down to the first
    then: Callable[[], Any] | None = None  # what the app does once the wizard is closed

    @property
    def pf(self) -> PF | None:
        return self.choice.pf if self.choice else None

    def taken_names(self) -> set[str]:
        names = set(self.taken)
        if self.scan is not None:
            names |= {p.name for p in self.scan.pools}
        return names

    def choose(self, c: PfChoice) -> None:
        """The PF picked; another PF than before starts the count and the name afresh."""
        if self.choice is None or self.choice.pf.pci != c.pf.pci:
            self.choice = c
            self.numvfs = None
            self.name = ""


class SpaceCheckbox(Checkbox, inherit_bindings=False):
    """A checkbox toggled by space only, so Enter moves the wizard on as everywhere else in it.

    Its state reads without colour: ``▐X▌`` on, ``▐ ▌`` off (Textual draws an X either way and
    tells them apart by colour alone, which NO_COLOR and monochrome terminals lose).
    """

    BINDINGS = [Binding("space", "toggle_button", "Toggle", show=False)]

    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]  # noqa: N802 - Textual's name
        return "X" if self.value else " "


NEXT = Binding("enter", "next", "Next", priority=True)  # priority: Enter moves on from any field
BACK = Binding("escape", "back", "Back")
CLOSE = Binding("escape", "close", "Close")
TAIL = [
    Binding("question_mark", "help", "Help", key_display="?"),
    # priority: the focus moves before the next key is handled, so text typed right after
    # Tab lands in the field it moved to (not in the pane it left, nor as the app's keys)
    Binding("tab", "app.focus_next", "Next field", show=False, priority=True),
    Binding("shift+tab", "app.focus_previous", "Previous field", show=False, priority=True),
]


class PoolWizard(ModalScreen[PoolResult | None]):
    """One step of the wizard. Each step pushes the next; Esc dismisses back to the one before.

    A full-size ``ModalScreen``: the app's own keys (``n``, ``g``, ``q`` ...) do not fire underneath
    while the wizard is open. ``isinstance(app.screen, PoolWizard)``: the wizard is open.
    """

    CSS_PATH = "pool_wizard.tcss"
    STEP = ""

    class StepUpdate(Message, bubble=False):
        """One ``StepEvent`` from ``execute`` on the libvirt thread, for the run step alone (it used
        to bubble on to the app too, so an observer saw each event twice in a racy order)."""

        def __init__(self, event: StepEvent) -> None:
            super().__init__()
            self.event = event

    def __init__(self, state: WizardState) -> None:
        super().__init__()
        self.state = state

    @property
    def step(self) -> str:
        return self.STEP

    def compose(self) -> ComposeResult:
        yield Static("", id="wiz-title")
        yield from self.compose_step()
        yield Footer(compact=True, show_command_palette=False)

    def compose_step(self) -> ComposeResult:
        raise NotImplementedError

    def on_screen_resume(self) -> None:
        self.show()

    def show(self) -> None:
        """Fill the step from the state (when it opens, and when a later step comes back to it)."""
        self.show_title()

    def show_title(self) -> None:
        state = self.state
        self.query_one("#wiz-title", Static).update(
            view.title(self.STEP, state.via_vfs, state.pf, self.readonly))
        self.refresh_bindings()

    # ------------------------------------------------------------------ helpers

    @property
    def readonly(self) -> bool:
        return bool(getattr(self.app, "readonly", True))

    def roots(self) -> dict[str, str]:
        settings = getattr(self.app, "settings", None)
        sysfs = self.state.sysfs_root or getattr(settings, "sysfs_root", None) or sriov.SYSFS
        udev = self.state.udev_root or getattr(settings, "udev_root", None) or "/"
        return {"sysfs_root": sysfs, "udev_root": udev}

    def call(self, fn: Callable[..., Any], *args: Any) -> Future | None:
        """``fn(conn, *args)`` on the app's libvirt thread; None when there is no backend."""
        backend = getattr(self.app, "backend", None)
        return backend.call(fn, *args) if backend is not None else None

    def names_known(self) -> None:
        """libvirt's network names arrived (the name step checks against them)."""

    # ------------------------------------------------------------------ going on, back, closing

    def go(self, screen: PoolWizard) -> None:
        self.app.push_screen(screen, self._came_back)

    def _came_back(self, _result: object) -> None:
        if self.state.closing:
            self.dismiss(self.state.result)

    def close_wizard(self) -> None:
        if self.state.running:
            self.notify("The steps are running; a failure undoes what they did.", markup=False)
            return
        self.state.closing = True
        self.dismiss(self.state.result)

    def action_back(self) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.close_wizard()

    def action_help(self) -> None:
        help_action = getattr(self.app, "action_help", None)
        if callable(help_action):
            help_action()

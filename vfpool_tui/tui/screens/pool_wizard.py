"""`n`: the pool wizard. Pick a PF, enable VFs if needed, name the network, review, create.

The screen is a thin face on ``core.pools.create``: ``pf_choices`` for the first step, the core's
own validators while typing (``name_problem``, ``vlan_problem``, ``numvfs_problem``), ``plan_pool``
for the review, ``execute`` for the steps. Everything that touches libvirt or sysfs (the network
names, the plan, which reads the schema and the udev rule file, the steps) runs on the app's single
libvirt thread through ``app.backend.call``; ``execute``'s step events come back as
``PoolWizard.StepUpdate`` messages (``post_message`` is thread-safe), so each step shows as it
happens.

A full-size ``ModalScreen``: the app's own keys (``n``, ``g``, ``q`` ...) do not fire underneath
while the wizard is open. Esc goes back one step, and closes from the first. Names and XML from
libvirt are shown as ``Text``/``Syntax``, never as markup.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from rich.console import Group
from rich.syntax import Syntax
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, ContentSwitcher, DataTable, Footer, Input, Label, Static

from vfpool_tui.core.host import sriov
from vfpool_tui.core.model import PF, Scan
from vfpool_tui.core.pools import create as pool_create
from vfpool_tui.core.pools.create import PfChoice, PoolPlan, PoolRefused, PoolResult, StepEvent, StepStatus
from vfpool_tui.core.virt import network_xml
from vfpool_tui.tui.view import UNKNOWN, pool_status, safe
from vfpool_tui.tui.widgets.keyed_table import StableDataTable

PICK, VFS, NAME, REVIEW, RUN = "step-pick", "step-vfs", "step-name", "step-review", "step-run"
_TITLES = {PICK: "PF", VFS: "VFs", NAME: "name", REVIEW: "review", RUN: "create"}

_MARK = {
    StepStatus.RUNNING: ("⋯", "bold"),
    StepStatus.DONE: ("✔", "green"),
    StepStatus.FAILED: ("✖", "bold red"),
    StepStatus.UNDONE: ("↶", "yellow"),
    StepStatus.UNDO_FAILED: ("✖", "bold red"),
}
_STATUS_WORD = {
    StepStatus.RUNNING: "running",
    StepStatus.DONE: "done",
    StepStatus.FAILED: "FAILED",
    StepStatus.UNDONE: "undone",
    StepStatus.UNDO_FAILED: "UNDO FAILED",
}


def _xml_view(xml: str) -> Syntax:
    return Syntax(xml.rstrip("\n"), "xml", theme="ansi_dark", word_wrap=True, background_color="default")


def _bad(msg: str) -> Text:
    return Text.assemble(("✖ ", "bold red"), safe(msg))


def _warn(msg: str) -> Text:
    return Text.assemble(("▲ ", "yellow"), safe(msg))


def _ok(msg: str) -> Text:
    return Text.assemble(("✔ ", "green"), safe(msg))


class SpaceCheckbox(Checkbox, inherit_bindings=False):
    """A checkbox toggled by space only, so Enter moves the wizard on as everywhere else in it."""

    BINDINGS = [Binding("space", "toggle_button", "Toggle", show=False)]


# --------------------------------------------------------------------------- libvirt-thread jobs
# Each runs as fn(conn, ...) on the backend's libvirt thread (never on the event loop).


def _network_names(conn) -> set[str]:
    if conn is None:
        raise PoolRefused("libvirt is not connected")
    return pool_create.network_names(conn)


def _plan(conn, scan: Scan, kwargs: dict) -> PoolPlan:
    if conn is None:
        raise PoolRefused("libvirt is not connected: nothing can be checked or created")
    return pool_create.plan_pool(scan, conn=conn, **kwargs)


def _execute(conn, plan: PoolPlan, on_step: Callable[[StepEvent], None]) -> PoolResult:
    if conn is None:
        raise PoolRefused("libvirt is not connected: nothing was done")
    return pool_create.execute(conn, plan, on_step)


# --------------------------------------------------------------------------- confirm dialog


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
        plan = self.plan
        box = Vertical(id="confirm-box")
        box.border_title = Text(f" Create network {safe(plan.name)}? ")
        box.border_subtitle = "Esc cancel · Tab/←→ choose"
        text = Text()
        text.append(f"Network '{safe(plan.name)}' over PF {safe(plan.pf.name)} ({plan.pf.pci}), "
                    f"{plan.vf_count} VFs. These steps run now, in this order:\n")
        for i, step in enumerate(plan.steps, 1):
            text.append(f"  {i}. {safe(step.title)}\n")
        if plan.numvfs is not None and plan.numvfs_before > 0:
            text.append(f"\nThe {plan.numvfs_before} current VFs of {safe(plan.pf.name)} are destroyed "
                        "and re-created (0 is written first).\n", style="bold red")
        text.append("If a step fails, what was done is undone in reverse.", style="dim")
        with box:
            with VerticalScroll(id="confirm-scroll", can_focus=False):
                yield Static(text, id="confirm-text")
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


# --------------------------------------------------------------------------- the wizard


class PoolWizard(ModalScreen[PoolResult | None]):
    CSS_PATH = "pool_wizard.tcss"

    BINDINGS = [
        # priority: Enter moves on from any field (Input, table, checkbox: space toggles those)
        Binding("enter", "next", "Next", priority=True),
        Binding("enter", "create", "Create…", priority=True),
        Binding("escape", "back", "Back"),
        Binding("escape", "close", "Close"),
        Binding("v", "numvfs", "VF count"),
        Binding("c", "convert", "Convert guests"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("tab", "app.focus_next", "Next field", show=False),
        Binding("shift+tab", "app.focus_previous", "Previous field", show=False),
    ]

    class StepUpdate(Message):
        """One ``StepEvent`` from ``execute`` on the libvirt thread."""

        def __init__(self, event: StepEvent) -> None:
            super().__init__()
            self.event = event

    def __init__(self, preselect: str | None = None, *, sysfs_root: str | None = None,
                 udev_root: str | None = None) -> None:
        super().__init__()
        self.preselect = preselect  # PCI address of the PF to put the cursor on
        self.sysfs_root = sysfs_root
        self.udev_root = udev_root
        self.step = PICK
        self.scan: Scan | None = None
        self.choices: dict[str, PfChoice] = {}
        self.choice: PfChoice | None = None
        self.numvfs: int | None = None  # count to set first; None keeps the PF's count
        self.via_vfs = False  # the VFs step was shown on the way to the name
        self.taken: set[str] = set()
        self.taken_known = False
        self.plan: PoolPlan | None = None
        self.planning = False
        self.running = False
        self.events: list[StepEvent] = []
        self.result: PoolResult | None = None
        self.run_error: str | None = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Static("", id="wiz-title")
        with ContentSwitcher(initial=PICK, id="wiz-steps"):
            with Vertical(id=PICK):
                yield StableDataTable(id="pf-table", cursor_type="row", zebra_stripes=False)
                with VerticalScroll(id="pf-info-box", classes="box"):
                    yield Static("", id="pf-info")
            with VerticalScroll(id=VFS):
                yield Static("", id="vfs-intro")
                yield Label("VFs to enable:", classes="field-label")
                yield Input(id="numvfs", type="integer", compact=True, max_length=4)
                yield Static("", id="numvfs-why")
            with Horizontal(id=NAME):
                with VerticalScroll(id="form"):
                    yield Static("", id="name-pf")
                    yield Label("Network name", classes="field-label")
                    yield Input(id="name", compact=True, placeholder="e.g. sriov-pool-a")
                    yield Static("", id="name-why")
                    yield SpaceCheckbox("managed='yes': libvirt binds VFs", True, id="managed",
                                        compact=True)
                    yield Label("VLAN tag (optional, 1-4094)", classes="field-label")
                    yield Input(id="vlan", type="integer", compact=True, max_length=5,
                                placeholder="none")
                    yield Static("", id="vlan-why")
                with VerticalScroll(id="preview-box", classes="box"):
                    yield Static("", id="xml-preview")
            with VerticalScroll(id=REVIEW):
                yield Static("", id="review-text")
                yield SpaceCheckbox("", False, id="persist", compact=True)
                yield Static("", id="rule-text")
                yield Static("", id="review-steps")
            with Vertical(id=RUN):
                with VerticalScroll(id="run-scroll"):
                    yield Static("", id="run-steps")
                    yield Static("", id="run-outcome")
                with Horizontal(id="run-buttons"):
                    yield Button("Close", id="run-close", variant="primary", compact=True)
                    yield Button("Convert guests", id="run-convert", compact=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#pf-info-box").border_title = "PF"
        self.query_one("#preview-box").border_title = "Network XML (exactly what is defined)"
        self.query_one("#run-buttons").display = False
        table = self.query_one("#pf-table", DataTable)
        for key, label in (("pf", "PF"), ("vfs", "VFs"), ("hard", "Hard"), ("other", "Other"),
                           ("pool", "Pool / why not"), ("model", "Model")):
            table.add_column(label, key=key)
        self.load_scan(self.app.scan)
        self._fetch_names()
        self.show_step(PICK)

    # ------------------------------------------------------------------ helpers

    @property
    def readonly(self) -> bool:
        return bool(getattr(self.app, "readonly", True))

    def _roots(self) -> dict[str, str]:
        settings = getattr(self.app, "settings", None)
        sysfs = self.sysfs_root or getattr(settings, "sysfs_root", None) or sriov.SYSFS
        udev = self.udev_root or getattr(settings, "udev_root", None) or "/"
        return {"sysfs_root": sysfs, "udev_root": udev}

    def _call(self, fn: Callable[..., Any], *args: Any) -> Future | None:
        backend = getattr(self.app, "backend", None)
        return backend.call(fn, *args) if backend is not None else None

    @property
    def pf(self) -> PF | None:
        return self.choice.pf if self.choice else None

    def show_step(self, step: str) -> None:
        self.step = step
        self.query_one(ContentSwitcher).current = step
        order = [PICK, VFS, NAME, REVIEW, RUN] if self.via_vfs or step == VFS else [PICK, NAME, REVIEW, RUN]
        title = Text(" New pool ", style="bold reverse")
        for i, s in enumerate(order, 1):
            title.append("  " if i == 1 else " › ", style="dim")
            title.append(f"{i} {_TITLES[s]}", style="bold underline" if s == step else "dim")
        if self.pf is not None and step != PICK:
            title.append(f"   PF {safe(self.pf.name)}", style="bold")
        if self.readonly:
            title.append("   read-only: nothing can be created", style="bold red")
        self.query_one("#wiz-title", Static).update(title)
        focus = {PICK: "#pf-table", VFS: "#numvfs", NAME: "#name", REVIEW: "#persist", RUN: "#run-close"}
        if step == REVIEW and self.plan is None:
            focus[REVIEW] = "#review-text"
        target = self.query(focus[step])
        if target and target.first().focusable:
            target.first().focus()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        step = self.step
        if action == "next":
            if step in (RUN, REVIEW):
                return False
            if step == PICK:
                c = self._highlighted()
                return True if c is not None and c.selectable else None
            return True
        if action == "create":
            if step != REVIEW:
                return False
            return True if self.plan is not None and not self.planning and not self.readonly else None
        if action == "numvfs":
            if step != PICK:
                return False
            c = self._highlighted()
            return True if c is not None and c.selectable else None
        if action == "convert":
            return True if step == RUN and self.result is not None and self.result.ok else False
        if action == "back":
            return False if step in (PICK, RUN) else True
        if action == "close":
            if step not in (PICK, RUN):
                return False
            return None if self.running else True
        return True

    # ------------------------------------------------------------------ step 1: pick a PF

    def load_scan(self, scan: Scan | None) -> None:
        self.scan = scan
        table = self.query_one("#pf-table", DataTable)
        table.clear()
        self.choices = {}
        if scan is None:
            self.query_one("#pf-info", Static).update(Text("No scan yet: wait for the first scan, "
                                                           "then press n again.", style="bold"))
            return
        for c in pool_create.pf_choices(scan):
            self.choices[c.pf.pci] = c
            table.add_row(*self._choice_cells(c), key=c.pf.pci)
        if not self.choices:
            self.query_one("#pf-info", Static).update(Text("No SR-IOV capable NIC found on this host.",
                                                           style="bold"))
            return
        keys = list(self.choices)
        row = 0
        if self.preselect in self.choices:
            row = keys.index(self.preselect)
        else:  # first PF that can be picked
            row = next((i for i, k in enumerate(keys) if self.choices[k].selectable), 0)
        table.move_cursor(row=row)
        self._show_choice(self.choices[keys[row]])

    @staticmethod
    def _choice_cells(c: PfChoice) -> list[Text]:
        pf = c.pf
        dim = "" if c.selectable else "dim"
        if c.existing_pool:
            why = Text(f"● {safe(c.existing_pool)}", style="cyan")
        elif c.problem:
            why = Text(f"✖ {safe(c.problem)}", style="dim")
        elif pf.numvfs == 0:
            why = Text("VFs off: enable", style="yellow")
        else:
            why = Text("○ can create", style="green")
        return [
            Text(safe(pf.name), style="bold" if c.selectable else "dim", no_wrap=True),
            Text(f"{pf.numvfs}/{pf.totalvfs}", style=dim),
            Text(str(len(c.hardcoded)), style="yellow" if c.hardcoded else "dim"),
            Text(str(len(c.other_pools)), style="yellow" if c.other_pools else "dim"),
            why,
            Text(safe(pf.model), style="dim", no_wrap=True, overflow="ellipsis"),
        ]

    def _highlighted(self) -> PfChoice | None:
        if not self.is_mounted:
            return None
        table = self.query_one("#pf-table", DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:
            return None
        return self.choices.get(key)

    @on(DataTable.RowHighlighted, "#pf-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key else None
        if key in self.choices:
            self._show_choice(self.choices[key])
        self.refresh_bindings()

    @on(DataTable.RowSelected, "#pf-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_next()

    def _show_choice(self, c: PfChoice) -> None:
        pf = c.pf
        t = Text()
        t.append(safe(pf.name), style="bold")
        t.append(f"  {pf.pci}  {safe(pf.driver or UNKNOWN)}  NUMA "
                 f"{UNKNOWN if pf.numa_node is None else pf.numa_node}\n", style="")
        t.append(f"{safe(pf.vendor)} {safe(pf.model)}\n", style="dim")
        t.append(f"VFs enabled: {pf.numvfs} of {pf.totalvfs}")
        t.append("  (sriov_numvfs is 0: the wizard offers to enable some)\n" if pf.numvfs == 0 and
                 c.selectable else "\n")
        if c.hardcoded:
            t.append(f"Hard-coded in guests ({len(c.hardcoded)}): ", style="yellow")
            t.append(", ".join(f"{safe(u.guest)} {u.pci or UNKNOWN}{' ▶running' if u.active else ''}"
                               for u in c.hardcoded))
            t.append("\n")
        else:
            t.append("Hard-coded in guests: none\n", style="dim")
        if c.other_pools:
            t.append("In other pools' address lists: ", style="yellow")
            t.append(", ".join(f"{safe(n)} {a}" for n, a in c.other_pools) + "\n")
        else:
            t.append("In other pools: none\n", style="dim")
        parts: list = [t]
        if c.existing_pool:
            parts.append(self._existing_pool(c.existing_pool))
        elif c.problem:
            parts.append(Text.assemble(("✖ cannot be picked: ", "bold red"), safe(c.problem)))
        elif self.readonly:
            parts.append(_bad("read-only session: a pool cannot be created here"))
        elif pf.numvfs == 0:
            parts.append(Text.assemble(("Enter", "bold"), f": choose how many VFs to enable (1-{pf.totalvfs})"))
        else:
            parts.append(Text.assemble(("Enter", "bold"), ": name the pool network · ",
                                       ("v", "bold"), ": change the VF count first"))
        self.query_one("#pf-info", Static).update(Group(*parts))
        box = self.query_one("#pf-info-box")
        box.border_title = Text(f"PF {safe(pf.name)}")

    def _existing_pool(self, name: str) -> Text:
        pool = next((p for p in (self.scan.pools if self.scan else ()) if p.name == name), None)
        t = Text()
        t.append("Already has a pool: ", style="bold cyan")
        t.append(f"network '{safe(name)}'", style="bold")
        if pool is not None:
            status, style = pool_status(pool)
            t.append("  ")
            t.append(status, style=style)
            t.append(f"  autostart {'yes' if pool.autostart else 'no'}"
                     f"  VFs {UNKNOWN if pool.capacity is None else pool.capacity}"
                     f"  in use {pool.in_use}  free {UNKNOWN if pool.free is None else pool.free}\n")
            vfs = pool.vf_pcis or pool.addresses
            if vfs:
                t.append("VFs: " + ", ".join(vfs) + "\n", style="dim")
        else:
            t.append("\n")
        t.append("A second pool over the same PF would hand out the same VFs: none is created. "
                 "o shows all pools.", style="dim")
        return t

    # ------------------------------------------------------------------ step 2: VF count

    def _open_vfs(self) -> None:
        pf = self.pf
        assert pf is not None
        self.via_vfs = True
        intro = Text()
        intro.append(f"{safe(pf.name)} ({pf.pci}) has {pf.numvfs} of {pf.totalvfs} VFs enabled.\n",
                     style="bold")
        if pf.numvfs == 0:
            intro.append("A pool needs VFs, and the network fails to start on a PF without any. "
                         f"Choose how many to enable (1-{pf.totalvfs}); they are created by writing "
                         "sriov_numvfs when you confirm, not before.\n")
        else:
            intro.append("Changing a non-zero count: the kernel refuses to go from one count to another "
                         f"directly, so 0 is written first, which DESTROYS all {pf.numvfs} current VFs "
                         "(guests holding one lose it; VF drivers, MACs and VLANs start from defaults). "
                         "Refused while a running guest holds one of them. "
                         f"Enter {pf.numvfs} to keep the count as it is.\n", style="")
        intro.append("The count does not survive a reboot: the review step offers a udev rule for it.",
                     style="dim")
        self.query_one("#vfs-intro", Static).update(intro)
        field = self.query_one("#numvfs", Input)
        if self.numvfs is not None:
            field.value = str(self.numvfs)
        elif pf.numvfs:
            field.value = str(pf.numvfs)
        else:
            field.value = str(min(pf.totalvfs, 8))
        self._check_numvfs()
        self.show_step(VFS)

    def _numvfs_value(self) -> tuple[int | None, Text]:
        pf = self.pf
        assert pf is not None and self.scan is not None
        raw = self.query_one("#numvfs", Input).value.strip()
        try:
            n = int(raw)
        except ValueError:
            return None, _bad(f"enter a whole number of VFs, 1-{pf.totalvfs}")
        if n < 1:
            return None, _bad("a pool needs at least 1 VF")
        problem = sriov.numvfs_problem(self.scan, pf, n)
        if problem:
            return None, _bad(problem)
        if n == pf.numvfs:
            return n, _ok(f"keep {n} VFs (nothing is written to sriov_numvfs)")
        if pf.numvfs:
            return n, _warn(f"{pf.numvfs} -> {n} VFs: writes 0 then {n}; the {pf.numvfs} current VFs "
                            "are destroyed and re-created")
        return n, _ok(f"enable {n} of {pf.totalvfs} VFs")

    def _check_numvfs(self) -> int | None:
        n, why = self._numvfs_value()
        self.query_one("#numvfs-why", Static).update(why)
        return n

    @on(Input.Changed, "#numvfs")
    def _numvfs_changed(self, _event: Input.Changed) -> None:
        if self.step == VFS:
            self._check_numvfs()

    # ------------------------------------------------------------------ step 3: name, managed, VLAN

    def _open_name(self) -> None:
        pf = self.pf
        assert pf is not None
        count = self.numvfs if self.numvfs is not None else pf.numvfs
        head = Text()
        head.append(f"PF {safe(pf.name)}", style="bold")
        head.append(f" · {count} VFs" + (" (to enable)" if self.numvfs not in (None, pf.numvfs) else ""))
        self.query_one("#name-pf", Static).update(head)
        field = self.query_one("#name", Input)
        if not field.value:
            field.value = self._suggest_name(pf)
        self._update_name()
        self.show_step(NAME)

    def _suggest_name(self, pf: PF) -> str:
        taken = self._taken()
        base = f"pool-{pf.name}"
        name, i = base, 2
        while name in taken or network_xml.name_problem(name):
            name, i = f"{base}-{i}", i + 1
            if i > 99:
                return ""
        return name

    def _taken(self) -> set[str]:
        names = set(self.taken)
        if self.scan is not None:
            names |= {p.name for p in self.scan.pools}
        return names

    def _fetch_names(self) -> None:
        future = self._call(_network_names)
        if future is None:
            return

        async def wait() -> None:
            try:
                names = await asyncio.wrap_future(future)
            except Exception:
                return  # the plan checks again with libvirt before anything is created
            self.taken = set(names)
            self.taken_known = True
            if self.step == NAME:
                self._update_name()

        self.run_worker(wait(), group="pool-wizard-names", exit_on_error=False)

    def _form(self) -> tuple[str, bool, int | None, list[Text], Text, Text]:
        """(name, managed, vlan, blocking problems, name line, vlan line) from the fields."""
        name = self.query_one("#name", Input).value
        managed = self.query_one("#managed", Checkbox).value
        problems: list[Text] = []
        problem = network_xml.name_problem(name)
        if problem:
            name_line = _bad(problem)
            problems.append(name_line)
        elif name in self._taken():
            name_line = _bad(f"a network named '{name}' already exists: choose another name "
                             "(an existing network is never overwritten)")
            problems.append(name_line)
        else:
            warns = network_xml.name_warnings(name)
            if warns:
                name_line = _warn(warns[0])
            elif self.taken_known:
                name_line = _ok("valid, and no network has this name")
            else:
                name_line = _ok("valid (checked against libvirt's networks before creating)")
        raw = self.query_one("#vlan", Input).value.strip()
        vlan: int | None = None
        vlan_line = Text("no VLAN: the VFs carry untagged traffic", style="dim")
        if raw:
            try:
                vlan = int(raw)
            except ValueError:
                problem = f"VLAN {raw!r} is not a number"
            else:
                problem = network_xml.vlan_problem(vlan)
            if problem:
                vlan_line = _bad(problem)
                problems.append(vlan_line)
            else:
                vlan_line = _ok(f"libvirt sets VLAN {vlan} on each VF it hands out")
        return name, managed, vlan, problems, name_line, vlan_line

    def _update_name(self) -> None:
        pf = self.pf
        if pf is None:
            return
        name, managed, vlan, problems, name_line, vlan_line = self._form()
        box = self.query_one("#managed", Checkbox)
        box.label = Text("managed='yes': libvirt binds VFs" if managed
                         else "managed='no': you bind VFs")
        self.query_one("#name-why", Static).update(name_line)
        self.query_one("#vlan-why", Static).update(vlan_line)
        preview = self.query_one("#xml-preview", Static)
        try:
            xml = network_xml.build_pool_network(name, pf.netdevs[0], managed=managed, vlan=vlan)
        except (ValueError, IndexError) as err:
            preview.update(Text.assemble(("No XML yet: ", "bold"), safe(str(err) or "no PF netdev")))
            return
        preview.update(_xml_view(xml))

    @on(Input.Changed, "#name")
    @on(Input.Changed, "#vlan")
    @on(Checkbox.Changed, "#managed")
    def _form_changed(self, _event: Message) -> None:
        if self.step == NAME:
            self._update_name()

    # ------------------------------------------------------------------ step 4: review and plan

    def _plan_kwargs(self, persist: bool) -> dict:
        name, managed, vlan, _problems, _n, _v = self._form()
        assert self.pf is not None
        return dict(pf_key=self.pf.pci, name=name, managed=managed, vlan=vlan, numvfs=self.numvfs,
                    persist=persist, **self._roots())

    def _make_plan(self, persist: bool) -> None:
        if self.pf is None:
            return
        # the newest scan: a guest may have started since the wizard opened
        scan = self.app.scan or self.scan
        future = self._call(_plan, scan, self._plan_kwargs(persist))
        self.plan = None
        self.planning = True
        self._show_review(Text("Checking the plan with libvirt …", style="dim"))
        self.refresh_bindings()
        if future is None:
            self.planning = False
            self._show_review(_bad("the libvirt thread is stopped: nothing can be checked"))
            return

        async def wait() -> None:
            try:
                plan = await asyncio.wrap_future(future)
            except PoolRefused as err:
                self.planning = False
                self._show_review(Text.assemble(("Refused: ", "bold red"), safe(err.reason), "\n",
                                                ("Esc goes back to change it.", "dim")))
            except Exception as err:  # a bug or an unexpected host: say it, change nothing
                self.planning = False
                self._show_review(_bad(f"the plan could not be made: {type(err).__name__}: {err}"))
            else:
                self.planning = False
                self.plan = plan
                self._show_review(None)
            self.refresh_bindings()

        self.run_worker(wait(), group="pool-wizard-plan", exit_on_error=False)

    def _show_review(self, status: Text | None) -> None:
        plan = self.plan
        pf = self.pf
        persist_box = self.query_one("#persist", Checkbox)
        rule = self.query_one("#rule-text", Static)
        if plan is None or pf is None:
            self.query_one("#review-text", Static).update(status or Text(""))
            self.query_one("#review-steps", Static).update("")
            persist_box.display = False
            rule.display = False
            return
        t = Text()
        t.append("Create ", style="bold")
        t.append(f"'{safe(plan.name)}'", style="bold")
        t.append(f" over PF {safe(plan.pf_dev)} ({pf.pci}): {plan.vf_count} VFs, managed "
                 f"{'yes' if plan.managed else 'no'}, VLAN {plan.vlan if plan.vlan is not None else 'none'}\n")
        hard = [w for w in plan.warnings if w.kind == "vf-hardcoded"]
        if hard:
            guests = sorted({g for w in hard for g in w.guests})
            t.append_text(_warn(f"VFs of {pf.name} are hard-coded in {len(guests)} "
                                f"guest{'s' if len(guests) != 1 else ''}:"))
            t.append("\n")
            active = {u.guest for u in (self.choice.hardcoded if self.choice else ()) if u.active}
            for w in hard:
                running = any(g in active for g in w.guests)
                t.append(f"   ■ {safe(', '.join(w.guests))}", style="yellow")
                t.append(f" {', '.join(w.pcis)}{'  ▶running' if running else ''}\n")
            t.append("   The pool may hand the same VF to another guest, and one of them then fails to "
                     "start. Convert them to the pool afterwards (c on the last step).\n", style="dim")
        for w in plan.warnings:
            if w.kind not in ("vf-hardcoded", "numvfs-not-persistent"):
                t.append_text(_warn(w.message))
                t.append("\n")
        persistent = any(w.kind == "numvfs-not-persistent" for w in plan.warnings)
        rule_path = sriov.udev_rule_path(pf.pci, self._roots()["udev_root"])
        rule_text = sriov.udev_rule_text(pf, plan.vf_count)
        if plan.persist:
            t.append_text(_ok(f"the rule below is written, so {plan.vf_count} VFs come back at boot"))
        elif persistent:
            t.append_text(_warn("sriov_numvfs does not survive a reboot: the PF comes back with 0 VFs "
                                "and the network fails to start. Space on the box below writes a "
                                "udev rule for it."))
        else:
            t.append_text(_ok(f"a udev rule that sets {plan.vf_count} VFs at boot is in place already"))
        self.query_one("#review-text", Static).update(t)
        steps = Text("Steps on confirm (Enter):\n", style="bold")
        for i, step in enumerate(plan.steps, 1):
            steps.append(f" {i}. {safe(step.title)}\n", style="")
        self.query_one("#review-steps", Static).update(steps)
        persist_box.display = persistent or plan.persist
        with persist_box.prevent(Checkbox.Changed):
            persist_box.value = plan.persist
        persist_box.label = Text(f"write the udev rule ({plan.vf_count} VFs at boot): "
                                 f"{'yes' if plan.persist else 'no'}")
        rule.display = persistent or plan.persist
        rule.update(Group(Text.assemble(("rule file ", "bold"), safe(str(rule_path)),
                                        (" (written only if checked, on confirm)"
                                         if not plan.persist else " (written on confirm)", "dim")),
                          Syntax(rule_text.rstrip("\n"), "text", theme="ansi_dark", word_wrap=True,
                                 background_color="default")))

    @on(Checkbox.Changed, "#persist")
    def _persist_changed(self, event: Checkbox.Changed) -> None:
        if self.step == REVIEW:
            self._make_plan(event.value)

    # ------------------------------------------------------------------ step 5: confirm and run

    def _confirm(self) -> None:
        if self.readonly:
            self.notify("This session is read-only: nothing can be created.", severity="warning",
                        markup=False)
            return
        if self.plan is None or self.planning:
            return
        self.app.push_screen(ConfirmCreate(self.plan), self._confirmed)

    def _confirmed(self, go: bool | None) -> None:
        if not go or self.plan is None:
            return
        if self.readonly:  # never reach execute in a read-only session
            self.notify("This session is read-only: nothing was created.", severity="warning", markup=False)
            return
        self.start(self.plan)

    def start(self, plan: PoolPlan) -> None:
        self.running = True
        self.events = []
        self.result = None
        self.run_error = None
        self.query_one("#run-buttons").display = False
        self.query_one("#run-outcome", Static).update("")
        self._render_steps()
        self.show_step(RUN)
        post = self.post_message
        future = self._call(_execute, plan, lambda ev: post(self.StepUpdate(ev)))

        async def wait() -> None:
            try:
                if future is None:
                    raise PoolRefused("the libvirt thread is stopped: nothing was done")
                result = await asyncio.wrap_future(future)
            except Exception as err:
                self.run_error = err.reason if isinstance(err, PoolRefused) else f"{type(err).__name__}: {err}"
                result = None
            self.running = False
            self.result = result
            if result is not None:
                self.events = list(result.events)
            self._finish()

        self.run_worker(wait(), group="pool-wizard-execute", exit_on_error=False)

    @on(StepUpdate)
    def _step_update(self, msg: StepUpdate) -> None:
        if not self.running:
            return  # the result's own event list is complete already
        self.events.append(msg.event)
        self._render_steps()

    def _render_steps(self) -> None:
        """One line per step (and per undo): its latest status, in the order they started."""
        plan = self.plan
        t = Text()
        t.append("Steps\n", style="bold underline")
        latest: dict[tuple[str, bool], StepEvent] = {}
        for ev in self.events:
            latest[(ev.key, ev.undo)] = ev
        started = set(latest)
        if plan is not None:
            for step in plan.steps:
                ev = latest.get((step.key, False))
                if ev is None:
                    t.append(f" ·  {safe(step.title)}  ", style="dim")
                    t.append("waiting\n" if self.running else "not run\n", style="dim")
                    continue
                self._step_line(t, ev)
        for key in latest:
            if key[1] and key in started:
                self._step_line(t, latest[key])
        self.query_one("#run-steps", Static).update(t)

    @staticmethod
    def _step_line(t: Text, ev: StepEvent) -> None:
        mark, style = _MARK.get(ev.status, ("?", ""))
        t.append(f" {mark}  ", style=style)
        if ev.undo:
            t.append("undo: ", style="yellow")
        t.append(safe(ev.title))
        t.append(f"  {_STATUS_WORD.get(ev.status, str(ev.status))}", style=style)
        if ev.message:
            t.append(f": {safe(ev.message)}", style="dim" if ev.status is StepStatus.DONE else style)
        t.append("\n")

    def _finish(self) -> None:
        self._render_steps()
        result = self.result
        out: list = []
        if result is None:
            out.append(_bad(f"nothing was created: {self.run_error or 'unknown error'}"))
        elif not result.ok:
            line = Text()
            line.append("Failed: ", style="bold red")
            line.append(safe(result.error or result.failed_step or "unknown"))
            line.append("\n")
            undone = [ev.title for ev in result.events if ev.undo and ev.status is StepStatus.UNDONE]
            if result.left_behind:
                line.append("NOT undone (fix by hand): ", style="bold red")
                line.append(safe("; ".join(result.left_behind)))
            elif undone:
                line.append("Undone: ", style="bold yellow")
                line.append(safe("; ".join(undone)))
                line.append(". Nothing this wizard did is left behind.")
            else:
                line.append("Nothing had been changed yet, so nothing needed undoing.")
            out.append(line)
        else:
            out.append(self._outcome(result))
        self.query_one("#run-outcome", Static).update(Group(*out))
        self.query_one("#run-convert", Button).display = bool(result and result.ok)
        self.query_one("#run-buttons").display = True
        self.show_step(RUN)
        self.app.request_scan("pool created" if result is not None and result.ok else "pool wizard")

    def _outcome(self, result: PoolResult) -> Group:
        plan = result.plan
        t = Text()
        t.append_text(_ok(f"network '{plan.name}' is "))
        t.append("active" if result.active else "NOT active", style="green" if result.active else "bold red")
        t.append(" and ")
        t.append("starts at boot" if result.autostart else "does NOT start at boot",
                 style="green" if result.autostart else "bold red")
        t.append(f"  uuid {safe(result.uuid or UNKNOWN)}\n")
        where = {"live": "from the network XML", "sysfs": "the PF's VFs in sysfs (libvirt did not list them)"}
        if result.vf_addresses:
            t.append(f"Pool VFs ({len(result.vf_addresses)}, {where.get(result.vf_source, 'unknown')}):\n",
                     style="bold")
            holders: dict[str, list[str]] = {}
            for c in ([self.choice] if self.choice else []):
                for u in c.hardcoded:
                    if u.pci:
                        holders.setdefault(u.pci, []).append(u.guest)
            for addr in result.vf_addresses:
                t.append(f"  {addr}")
                if addr in holders:
                    t.append(f"  ■ hard-coded in {safe(', '.join(holders[addr]))}", style="yellow")
                t.append("\n")
        else:
            t.append("Pool VFs: unknown (libvirt did not list them; the Pools view shows them after "
                     "the rescan)\n", style="dim")
        if any(w.kind == "vf-hardcoded" for w in plan.warnings):
            t.append("Next: convert the guests with hard-coded VFs to this pool (c).\n", style="bold")
        parts: list = [t]
        if result.network_xml:
            parts += [Text("network XML (net-dumpxml)", style="bold underline"), _xml_view(result.network_xml)]
        return Group(*parts)

    @on(Button.Pressed, "#run-close")
    def _close_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(self.result)

    @on(Button.Pressed, "#run-convert")
    def _convert_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_convert()

    # ------------------------------------------------------------------ actions

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_next()

    def action_next(self) -> None:
        step = self.step
        if step == PICK:
            c = self._highlighted()
            if c is None:
                return
            if not c.selectable:
                self.notify(f"{c.pf.name}: {c.problem}", severity="warning", markup=False)
                return
            if self.choice is None or self.choice.pf.pci != c.pf.pci:
                self.choice = c
                self.numvfs = None
                self.query_one("#name", Input).value = ""
            self.via_vfs = False
            if c.pf.numvfs == 0:
                self._open_vfs()
            else:
                self._open_name()
        elif step == VFS:
            n = self._check_numvfs()
            if n is None:
                return
            assert self.pf is not None
            self.numvfs = None if n == self.pf.numvfs else n
            self._open_name()
        elif step == NAME:
            *_, problems, _n, _v = self._form()
            if problems:
                self.notify(problems[0].plain.lstrip("✖ "), severity="warning", markup=False)
                return
            self.show_step(REVIEW)
            self._make_plan(persist=False)

    def action_create(self) -> None:
        if self.step == REVIEW:
            self._confirm()

    def action_numvfs(self) -> None:
        if self.step != PICK:
            return
        c = self._highlighted()
        if c is None or not c.selectable:
            return
        if self.choice is None or self.choice.pf.pci != c.pf.pci:
            self.choice = c
            self.numvfs = None
            self.query_one("#name", Input).value = ""
        self._open_vfs()

    def action_back(self) -> None:
        if self.running:
            self.notify("The steps are running; a failure undoes what they did.", markup=False)
            return
        step = self.step
        if step == PICK or step == RUN:
            self.dismiss(self.result)
        elif step == VFS:
            self.via_vfs = False
            self.show_step(PICK)
        elif step == NAME:
            if self.via_vfs:
                self._open_vfs()
            else:
                self.show_step(PICK)
        elif step == REVIEW:
            self.plan = None
            self._open_name()

    def action_close(self) -> None:
        if self.running:
            self.notify("The steps are running; a failure undoes what they did.", markup=False)
            return
        self.dismiss(self.result)

    def action_convert(self) -> None:
        if self.step != RUN or self.result is None or not self.result.ok:
            return
        app = self.app
        self.dismiss(self.result)
        convert = getattr(app, "action_convert", None)
        if callable(convert):
            app.call_later(convert)

    def action_help(self) -> None:
        help_action = getattr(self.app, "action_help", None)
        if callable(help_action):
            help_action()


"""Convert guests from hard-coded VFs to a pool, step 1: pick the guests and the target pool.

The flow (each a screen; the engine is ``core.conversion.engine.ConversionEngine``, this UI only drives it):

1. ``ConvertScreen`` (here): candidates (guests with a hard-coded VF), space marks them, and the
   guests that cannot be converted, dimmed, with the reason; the target pool (hostdev pools; the one
   on the same PF is preselected); ``p`` a pool per device, another PF needs ``a`` and a
   confirmation, per guest, each time (``convert_devices.py``); the engine's plan, recomputed on the
   libvirt thread as the choice changes, with refusals (and why), warnings, and MAC fields for bare
   hostdevs whose MAC the host does not know. ``ConvertScreen(mark=key)`` opens with a guest marked.
2. ``ReviewScreen`` (convert_review.py): each guest's XML diff and the plan; then
3. ``ConfirmScreen`` (convert_confirm.py): default focus Cancel, names the guests and the downtime;
4. ``ProgressScreen`` (convert_progress.py): owns the run, live per-guest rows, the log, ``f``
   force off, Esc asks to cancel; dismisses with the frozen ``Outcome``, rendered here.
5. ``JournalScreen`` (convert_journal.py): unfinished conversions from the journal, resume or roll
   back per guest, and finished ones to revert; offered when this screen opens and there are
   unfinished ones (``j`` opens it any time).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.validation import Function
from textual.widgets import DataTable, Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from vfpool_tui.core.conversion.events import Outcome, Plan
from vfpool_tui.core.model import Pool, Scan
from vfpool_tui.tui import convert_engine, convert_view
from vfpool_tui.tui.screens.convert_devices import DeviceChoices, targets_dict
from vfpool_tui.tui.screens.convert_journal import JournalOffer
from vfpool_tui.tui.view import safe
from vfpool_tui.tui.widgets.keyed_table import KeyedTable


def valid_mac(text: str) -> bool:
    """A unicast MAC written aa:bb:cc:dd:ee:ff (libvirt refuses multicast and all-zero MACs)."""
    from vfpool_tui.core.conversion.transform import is_mac

    text = text.strip()
    if not is_mac(text):
        return False
    first = int(text[:2], 16)
    return not (first & 1) and text.replace(":", "").strip("0") != ""


@dataclass(frozen=True)
class PlanInputs:
    guests: tuple[str, ...]
    network: str
    macs: tuple[tuple[str, str, str], ...]  # (guest, vf, mac)
    devices: tuple[tuple[str, str, str, bool], ...]  # (guest, vf, pool, another PF allowed)
    generation: int

    def macs_dict(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for guest, vf, mac in self.macs:
            out.setdefault(guest, {})[vf] = mac
        return out


def _plan_on_libvirt_thread(conn, journal_dir, scan: Scan, inputs: PlanInputs):
    """Runs on the app's libvirt thread: the engine reads each guest's XML and builds the plan."""
    from vfpool_tui.core.conversion.engine import ConversionEngine, PlanError
    from vfpool_tui.core.conversion.journal import Journal

    if conn is None:
        return "libvirt is not connected (r: reconnect)"
    engine = ConversionEngine(conn, Journal(journal_dir), convert_engine.options())
    try:
        return engine.plan(scan, list(inputs.guests), inputs.network, macs=inputs.macs_dict(),
                           devices=targets_dict(inputs.devices))
    except PlanError as err:
        return str(err)


class MacField(Horizontal):
    """'MAC for GUEST VF x:' and a validated input (empty: libvirt picks a new MAC)."""

    DEFAULT_CSS = """
    MacField { height: 1; }
    MacField Label { width: auto; padding-right: 1; }
    MacField Input, MacField Input:focus { border: none; height: 1; padding: 0 1; width: 22;
                                           background: $boost; }
    MacField Input.-invalid { background: $error 40%; }
    """

    def __init__(self, guest: str, vf: str, value: str = "") -> None:
        super().__init__()
        self.guest, self.vf = guest, vf
        self._value = value

    def compose(self) -> ComposeResult:
        label = Text("MAC for ")
        label.append(safe(self.guest), style="bold")
        label.append(f" VF {self.vf}:")
        yield Label(label)
        yield Input(self._value, placeholder="aa:bb:cc:dd:ee:ff", valid_empty=True, compact=True,
                    validators=[Function(valid_mac, "not a unicast MAC (aa:bb:cc:dd:ee:ff)")])

    def on_mount(self) -> None:
        # While there are MAC fields, Tab goes to them and not to the plan pane around them: keys
        # typed with that pane focused were the screen's and the app's (':' opened the palette).
        pane = self.screen.query_one("#plan-box")
        if pane.has_focus:
            self.query_one(Input).focus()
        pane.can_focus = False

    def on_unmount(self) -> None:
        try:
            pane = self.screen.query_one("#plan-box")
        except Exception:  # noqa: BLE001 - the screen itself is going away
            return
        pane.can_focus = not any(f is not self for f in self.screen.query(MacField))


class ConvertScreen(DeviceChoices, JournalOffer, Screen[Outcome | None]):
    HELP_TITLE = "Convert guests"
    CSS_PATH = "convert.tcss"
    BINDINGS = [
        Binding("space", "mark", "Mark", key_display="space"),
        Binding("enter", "review", "Review"),
        Binding("a", "allow_other_pf", "Other PF"),
        Binding("p", "device_pools", "Per device"),
        Binding("j", "journal", "Journal"),
        Binding("escape", "back", "Back"),
        # priority: focus moves at once, so a MAC typed right after Tab lands in the field
        Binding("tab", "app.focus_next", "Next pane", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", "Previous pane", show=False, priority=True),
    ]

    def __init__(self, mark: str | None = None, pool: str | None = None) -> None:
        super().__init__()
        self._premark = mark  # a guest key (UUID or name) to mark when the candidates are first shown
        self.device_pools: dict[str, dict[str, str | None]] = {}
        self.other_pf_allowed: set[str] = set()
        self.marked: set[str] = set()
        self.target: str | None = pool  # a pool chosen by the caller (troubleshoot's c), else preselected
        self.pool_chosen = pool is not None  # the operator moved the pool cursor: no more preselection
        self.macs: dict[tuple[str, str], str] = {}  # (guest, vf) -> MAC typed by the operator
        self.bad_macs: set[tuple[str, str]] = set()
        self.plan: Plan | None = None
        self.plan_inputs: PlanInputs | None = None
        self.plan_error: str | None = None
        self.planning = False
        self.unfinished: list = []
        self.last_outcome: Outcome | None = None
        self._generation = -1
        self._pools: list[Pool] = []
        self._plan_timer = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Static(Text("Convert guests to a pool · 1 pick · 2 review · 3 run", style="bold"),
                     id="convert-title")
        with Vertical(id="cand-box", classes="box"):
            yield KeyedTable(convert_view.CANDIDATE_COLUMNS, id="candidates",
                             empty="no guest hard-codes a VF")
        with Vertical(id="pool-box", classes="box"):
            yield OptionList(id="pools")
        with VerticalScroll(id="plan-box", classes="box"):
            yield Static(id="plan-text")
            yield Vertical(id="macs")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#cand-box").border_title = "Guests with a hard-coded VF · space: mark · p: per device"
        self.query_one("#pool-box").border_title = "Target pool"
        self.query_one("#plan-box").border_title = "Plan"
        self.query_one("#candidates", KeyedTable).focus()
        self._refresh_from_scan()
        self.set_interval(0.5, self._refresh_from_scan)
        self._show_plan()
        self._load_journal(offer=True)

    # ------------------------------------------------------------------ scan -> tables

    def _refresh_from_scan(self) -> None:
        scan = self.app.scan
        if scan is None or self._generation == self.app.generation:
            return
        self._generation = self.app.generation
        cands = convert_view.candidates(scan)
        keys = {g.uuid or g.name for g in cands}
        for key in self.marked - keys:
            self._forget_choices(key)
        self.marked &= keys
        self._pools = sorted(scan.pools, key=lambda p: p.name.casefold())
        if self._premark is not None:
            self._mark_on_open(scan, keys)
        self._refill_candidates()
        if self.target not in {p.name for p in self._pools}:
            self.target, self.pool_chosen = None, False
        self._fill_pools()
        self._schedule_plan()

    def _marked_guests(self):
        scan = self.app.scan
        if scan is None:
            return []
        return [g for g in convert_view.candidates(scan) if (g.uuid or g.name) in self.marked]

    def _fill_pools(self) -> None:
        scan = self.app.scan
        ol = self.query_one("#pools", OptionList)
        if scan is None:
            return
        marked = self._marked_guests()
        if not self.pool_chosen and marked:
            pre = convert_view.preselect_pool(scan, marked, self._pools)
            if pre is not None:
                self.target = pre
        if self.target is None and self._pools:
            active = [p for p in self._pools if p.active]
            self.target = (active or self._pools)[0].name
        labels = convert_view.pool_labels(scan, self._pools, marked)
        names = [p.name for p in self._pools]
        with ol.prevent(OptionList.OptionHighlighted):
            if [o.id for o in ol.options] != names:
                ol.clear_options()
                ol.add_options([Option(label, id=n) for label, n in zip(labels, names)])
            else:
                for i, label in enumerate(labels):
                    ol.replace_option_prompt_at_index(i, label)
            if self.target in names:
                ol.highlighted = names.index(self.target)
        box = self.query_one("#pool-box")
        box.border_title = "Target pool (hostdev pools)" if self._pools else "Target pool: none"
        allowed = [g.name for g in marked if (g.uuid or g.name) in self.other_pf_allowed]
        box.border_subtitle = f"another PF allowed for {', '.join(allowed)}" if allowed else ""

    @on(OptionList.OptionHighlighted, "#pools")
    def _pool_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        idx = event.option_index
        if 0 <= idx < len(self._pools) and self._pools[idx].name != self.target:
            self.target = self._pools[idx].name
            self.pool_chosen = True
            self._fill_pools()
            self._schedule_plan()

    @on(OptionList.OptionSelected, "#pools")
    def _pool_selected(self, event: OptionList.OptionSelected) -> None:
        self.action_review()

    @on(DataTable.RowSelected, "#candidates")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_review()

    # ------------------------------------------------------------------ actions

    def action_mark(self) -> None:
        table = self.query_one("#candidates", KeyedTable)
        if not table.has_focus:
            return
        key, scan = table.current_key, self.app.scan
        if key is None or scan is None:
            return
        guest = next((g for g in convert_view.candidates(scan) if (g.uuid or g.name) == key), None)
        if guest is None:
            why = next((w for g, w in convert_view.unconvertible(scan) if (g.uuid or g.name) == key), "")
            self.notify(f"Cannot convert it: {why}", severity="warning", markup=False)
            return
        if key in self.marked:
            self.marked.discard(key)
            self._forget_choices(key)
        else:
            self.marked.add(key)
            self._propose_layout(guest)
        self._refill_candidates()
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)
        self._fill_pools()
        self._schedule_plan()

    def action_back(self) -> None:
        self.dismiss(self.last_outcome)

    # ------------------------------------------------------------------ MACs

    @on(Input.Changed, "MacField Input")
    def _mac_changed(self, event: Input.Changed) -> None:
        field = event.input.parent
        if not isinstance(field, MacField):
            return
        key = (field.guest, field.vf)
        value = event.value.strip().lower()
        if not value:
            self.macs.pop(key, None)
            self.bad_macs.discard(key)
        elif event.validation_result is not None and not event.validation_result.is_valid:
            self.macs.pop(key, None)
            self.bad_macs.add(key)
        else:
            self.macs[key] = value
            self.bad_macs.discard(key)
        self._schedule_plan()

    def _sync_mac_fields(self) -> None:
        box = self.query_one("#macs", Vertical)
        wanted = convert_view.mac_fields(self.plan, self.macs, self.bad_macs,
                                         {g.name for g in self._marked_guests()})
        have = {(f.guest, f.vf): f for f in box.query(MacField)}
        for key, f in have.items():
            if key not in wanted:
                f.remove()
        for key in wanted:
            if key not in have:
                box.mount(MacField(key[0], key[1], self.macs.get(key, "")))

    # ------------------------------------------------------------------ planning

    def _inputs(self) -> PlanInputs | None:
        # a guest whose devices are all "left as it is" has nothing to convert
        chosen = [g for g in self._marked_guests() if self._converts_something(g)]
        guests = tuple(g.name for g in chosen)
        if not guests or self.target is None:
            return None
        marked = set(guests)
        macs = tuple(sorted((g, vf, m) for (g, vf), m in self.macs.items() if g in marked))
        return PlanInputs(guests, self.target, macs, self.device_targets(chosen), self.app.generation)

    def _schedule_plan(self) -> None:
        if self._plan_timer is not None:
            self._plan_timer.stop()
        inputs = self._inputs()
        if inputs is None:
            self.plan, self.plan_inputs, self.plan_error, self.planning = None, None, None, False
            self._show_plan()
            return
        if inputs == self.plan_inputs and not self.planning:
            return
        self.planning = True
        self._show_plan()
        self._plan_timer = self.set_timer(0.15, lambda: self._plan(inputs))

    @work(group="convert-plan", exclusive=True, exit_on_error=False)
    async def _plan(self, inputs: PlanInputs) -> None:
        scan = self.app.scan
        jdir = convert_engine.journal_dir(self.app)
        try:
            result = await convert_engine.on_libvirt_thread(
                self.app, _plan_on_libvirt_thread, jdir, scan, inputs)
        except Exception as err:  # noqa: BLE001 - shown, never raised into the UI
            result = f"planning failed: {type(err).__name__}: {err}"
        if get_current_worker().is_cancelled or inputs != self._inputs():
            return
        self.planning = False
        self.plan_inputs = inputs
        if isinstance(result, str):
            self.plan, self.plan_error = None, result
        else:
            self.plan, self.plan_error = result, None
        self._sync_mac_fields()
        self._show_plan()

    def _blockers(self) -> list[str]:
        """Why the plan cannot be reviewed yet (empty: it can)."""
        return convert_view.blockers(self.plan, self.planning, bool(self.bad_macs),
                                     (r.guest for r in self.unfinished), False)

    def _show_plan(self) -> None:
        scan = self.app.scan
        self.query_one("#plan-text", Static).update(convert_view.plan_pane(
            last_outcome=self.last_outcome, unfinished=len(self.unfinished),
            nothing_to_convert=scan is not None and not convert_view.candidates(scan),
            marked=bool(self.marked), target=self.target, planning=self.planning,
            plan_error=self.plan_error, plan=self.plan,
            blocked=self._blockers() if self.plan is not None else [], bad_macs=self.bad_macs,
            timeout=convert_engine.SHUTDOWN_TIMEOUT))

    # ------------------------------------------------------------------ review -> confirm -> run

    def action_review(self) -> None:
        if not self.marked:
            self.notify("Mark at least one guest (space).", markup=False)
            return
        blockers = self._blockers()
        if blockers:
            self.notify("Cannot review yet: " + "; ".join(blockers), severity="warning", markup=False)
            return
        from vfpool_tui.tui.screens.convert_review import ReviewScreen

        self.app.push_screen(ReviewScreen(self.plan, convert_engine.journal_dir(self.app)),
                             self._reviewed)

    def _reviewed(self, confirmed: bool | None) -> None:
        if not confirmed or self.plan is None:
            return
        from vfpool_tui.tui.screens.convert_progress import ProgressScreen, convert_job

        plan = self.plan
        self.app.push_screen(ProgressScreen(convert_job(plan), title=Text.assemble(
            ("Converting ", "bold"), (f"{len(plan.guests)} guest(s) to "
                                      + ("pool " if len(plan.networks) == 1 else "pools "), "bold"),
            (", ".join(safe(n) for n in plan.networks), "bold"))), self._finished)

    def _finished(self, outcome: Outcome | None) -> None:
        if outcome is not None:
            self.last_outcome = outcome
            self.marked.clear()
            self.device_pools.clear()
            self.other_pf_allowed.clear()
            self.macs.clear()
            self.bad_macs.clear()
            self.plan, self.plan_inputs = None, None
            self.notify("Conversion: " + convert_view.outcome_line(outcome), markup=False,
                        severity="information" if outcome.ok else "warning")
        self._generation = -1
        self._refresh_from_scan()
        self._sync_mac_fields()
        self._load_journal(offer=False, quiet=True)
        self._show_plan()

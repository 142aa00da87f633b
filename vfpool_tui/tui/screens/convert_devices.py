"""The pick step, device by device: a pool per device (``p``), and another PF allowed per guest (``a``).

``DevicePoolsScreen``: one line per hard-coded VF device of the guest under the cursor; left/right
(or space) choose its pool among those over its own PF first, then the others, or "left as it is";
enter keeps the choice, Esc drops it. A guest marked with VFs on two PFs gets, per device, the pool
over that device's own PF when there is one (its port layout is kept), shown and changeable here.

``DeviceChoices`` is a mixin of ``ConvertScreen``: the per-device choices, the per-guest "another PF"
answers (asked each time, for the guests it concerns, dropped when the guest is unmarked), and the
device targets the plan gets from them.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from vfpool_tui.core.conversion.devices import DeviceTarget, describe_device
from vfpool_tui.core.model import Guest, Pool, Scan
from vfpool_tui.tui import convert_view
from vfpool_tui.tui.view import safe
from vfpool_tui.tui.widgets.keyed_table import KeyedTable

LEFT = None  # the device is left as it is


def device_pool_order(scan: Scan, pools: list[Pool], pf_pci: str | None) -> list[str | None]:
    """The choices for one device: pools over its own PF (active first), the others, then LEFT."""
    own = [p for p in pools if pf_pci and pf_pci in convert_view.pool_pf_pcis(scan, p)]
    own.sort(key=lambda p: not p.active)
    rest = [p for p in pools if p not in own]
    return [p.name for p in own] + [p.name for p in rest] + [LEFT]


def layout_keeping(scan: Scan, g: Guest, pools: list[Pool]) -> dict[str, str | None] | None:
    """Per device the pool over its own PF, when the guest's VFs are on several PFs and each PF has
    one (None: nothing to propose)."""
    pfs = convert_view.vf_pfs(scan, g)
    if len({p for p in pfs if p}) < 2:
        return None
    out: dict[str, str | None] = {}
    for u, pf in zip(g.convertible, pfs):
        if u.unassigned:
            continue
        choices = device_pool_order(scan, pools, pf)
        if choices[0] is None or pf is None or pf not in convert_view.pool_pf_pcis(
                scan, next(p for p in pools if p.name == choices[0])):
            return None
        out[u.pci] = choices[0]
    return out


class DevicePoolsScreen(ModalScreen[dict | None]):
    BINDINGS = [
        Binding("left", "cycle(-1)", "Pool ←"),
        Binding("right", "cycle(1)", "Pool →"),
        Binding("space", "cycle(1)", "Next pool", show=False),
        Binding("enter", "done", "Keep"),
        Binding("escape", "cancel", "Cancel"),
    ]
    DEFAULT_CSS = """
    DevicePoolsScreen { align: center middle; }
    DevicePoolsScreen #dialog { width: 78; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1; }
    DevicePoolsScreen OptionList { height: auto; max-height: 12; }
    DevicePoolsScreen #hint { color: $text-muted; padding-top: 1; }
    """

    def __init__(self, scan: Scan, guest: Guest, pools: list[Pool], current: dict[str, str | None],
                 target: str | None) -> None:
        super().__init__()
        self.guest = guest
        self.uses = [u for u in guest.convertible if not u.unassigned]
        pfs = dict(zip((u.pci for u in guest.convertible), convert_view.vf_pfs(scan, guest)))
        self.pf_names = {u.pci: convert_view.pf_name(scan, pfs.get(u.pci)) for u in self.uses}
        self.choices = {u.pci: device_pool_order(scan, pools, pfs.get(u.pci)) for u in self.uses}
        self.own = {u.pci: {p.name for p in pools if pfs.get(u.pci) in convert_view.pool_pf_pcis(scan, p)}
                    for u in self.uses}
        self.chosen = {u.pci: current.get(u.pci, target) if current else target for u in self.uses}

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            title = Text("A pool per device: ", style="bold")
            title.append(safe(self.guest.name), style="bold")
            yield Static(title)
            yield OptionList(*[Option(self._label(u), id=u.pci) for u in self.uses], id="devices")
            yield Static("←/→: its pool (its own PF's first; last: left as it is) · enter: keep · "
                         "esc: cancel", id="hint")

    def on_mount(self) -> None:
        self.query_one("#devices", OptionList).focus()

    def _label(self, u) -> Text:
        pool = self.chosen.get(u.pci)
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append(safe(describe_device(u, "PF " + self.pf_names[u.pci])))
        out.append("  → ")
        if pool is None:
            out.append("left as it is", style="dim")
        else:
            out.append(safe(pool), style="bold")
            if pool not in self.own[u.pci]:
                out.append("  another PF", style="yellow")
        return out

    def action_cycle(self, step: int) -> None:
        ol = self.query_one("#devices", OptionList)
        if ol.highlighted is None:
            return
        u = self.uses[ol.highlighted]
        options = self.choices[u.pci]
        now = self.chosen.get(u.pci)
        i = options.index(now) if now in options else -1
        self.chosen[u.pci] = options[(i + step) % len(options)]
        ol.replace_option_prompt_at_index(ol.highlighted, self._label(u))

    @on(OptionList.OptionSelected, "#devices")
    def _selected(self) -> None:  # enter on the list
        self.action_done()

    def action_done(self) -> None:
        self.dismiss(dict(self.chosen))

    def action_cancel(self) -> None:
        self.dismiss(None)


class DeviceChoices:
    """Per-device pools and per-guest "another PF" answers of the pick step (a ConvertScreen mixin)."""

    device_pools: dict  # guest key -> {vf: pool or None (left as it is)}
    other_pf_allowed: set  # guest keys whose VFs may go onto a pool over another PF

    def _forget_choices(self, key: str) -> None:
        """An unmarked guest: its per-device choices and its "another PF" answer go with it."""
        self.device_pools.pop(key, None)
        self.other_pf_allowed.discard(key)

    def _propose_layout(self, g: Guest) -> None:
        """A guest on several PFs, marked: each device onto the pool over its own PF, if any."""
        key = g.uuid or g.name
        proposal = layout_keeping(self.app.scan, g, self._pools)
        if proposal and key not in self.device_pools:
            self.device_pools[key] = proposal
            self.notify(f"{g.name}: VFs on several PFs, each device onto the pool over its own PF "
                        "(p: change)", markup=False)

    def _mark_on_open(self, scan, keys: set[str]) -> None:
        """``c`` from the guests view: the guest under its cursor, marked (or why it cannot be)."""
        key, self._premark = self._premark, None
        table = self.query_one("#candidates", KeyedTable)
        self._refill_candidates()
        table.select_key(key)
        if key in keys:
            self.marked.add(key)
            self._propose_layout(next(g for g in convert_view.candidates(scan) if (g.uuid or g.name) == key))
            return
        why = next((w for g, w in convert_view.unconvertible(scan) if key in (g.uuid, g.name)), None)
        if why:
            self.notify(f"Cannot convert it: {why}", severity="warning", markup=False)

    def _refill_candidates(self) -> None:
        if self.app.scan is not None:
            self.query_one("#candidates", KeyedTable).set_rows(
                convert_view.candidate_rows(self.app.scan, self.marked, self.device_pools))

    @property
    def allow_other_pf(self) -> bool:
        """Another PF is allowed for some marked guest (asked per guest, each time)."""
        return bool(self.other_pf_allowed & self.marked)

    def action_allow_other_pf(self) -> None:
        """Ask, for the marked guests refused because of another PF (and only for them)."""
        from vfpool_tui.tui.screens.convert_confirm import ConfirmScreen

        scan = self.app.scan
        if scan is None or self.target is None:
            return
        names = set(convert_view.other_pf_refusals(self.plan)) if self.plan is not None else set()
        guests = [g for g in self._marked_guests() if g.name in names]
        if not guests:
            self.notify("No marked guest is refused for another PF.", markup=False)
            return
        pool = next((p for p in self._pools if p.name == self.target), None)
        body = convert_view.other_pf_question(scan, self.target, pool, guests)
        self.app.push_screen(ConfirmScreen("Use a pool on another PF?", body, "Allow", mild=True),
                             lambda yes: self._other_pf_answer(yes, [g.uuid or g.name for g in guests]))

    def _other_pf_answer(self, yes: bool | None, keys: list[str]) -> None:
        if yes:
            self.other_pf_allowed.update(k for k in keys if k in self.marked)
            self._fill_pools()
            self._schedule_plan()

    def _converts_something(self, g: Guest) -> bool:
        """False when every device of the guest was set to "left as it is"."""
        chosen = self.device_pools.get(g.uuid or g.name)
        return chosen is None or any(chosen.values())

    def action_device_pools(self) -> None:
        scan = self.app.scan
        key = self.query_one("#candidates", KeyedTable).current_key
        g = next((x for x in convert_view.candidates(scan) if (x.uuid or x.name) == key), None) if scan else None
        if g is None:
            self.notify("Put the cursor on a guest with a hard-coded VF.", markup=False)
            return
        self.app.push_screen(DevicePoolsScreen(scan, g, self._pools, self.device_pools.get(key, {}),
                                               self.target),
                             lambda chosen: self._device_pools_done(key, chosen))

    def _device_pools_done(self, key: str, chosen: dict | None) -> None:
        if chosen is None:
            return
        self.device_pools[key] = chosen
        self.marked.add(key)
        self._refill_candidates()
        self._fill_pools()
        self._schedule_plan()

    def device_targets(self, guests: list[Guest]) -> tuple[tuple[str, str, str, bool], ...]:
        """(guest, vf, pool, another PF allowed) for the marked guests with per-device choices or
        an "another PF" answer; the others go whole onto the target pool."""
        out = []
        for g in guests:
            key = g.uuid or g.name
            allowed = key in self.other_pf_allowed
            chosen = self.device_pools.get(key)
            if chosen:
                out.extend((g.name, vf, pool, allowed) for vf, pool in chosen.items() if pool)
            elif allowed and self.target:
                out.extend((g.name, u.pci, self.target, True) for u in g.convertible if not u.unassigned)
        return tuple(out)


def targets_dict(devices: tuple[tuple[str, str, str, bool], ...]) -> dict[str, list[DeviceTarget]]:
    out: dict[str, list[DeviceTarget]] = {}
    for guest, vf, pool, allowed in devices:
        out.setdefault(guest, []).append(DeviceTarget(vf, pool, allowed))
    return out

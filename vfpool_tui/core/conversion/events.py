"""Typed records the conversion engine hands out: step events while it runs, plans and outcomes.

Frozen dataclasses with no UI in them: the CLI prints them, the TUI renders them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Callable

from vfpool_tui.core.conversion.devices import pool_phrase, pools_of


class Step(StrEnum):
    PRECHECK = "precheck"
    BACKUP = "backup"
    SHUTDOWN = "shutdown"
    DEFINE = "define"
    START = "start"
    VERIFY = "verify"
    ROLLBACK = "rollback"
    DONE = "done"


class StepState(StrEnum):
    STARTED = "started"
    WAITING = "waiting"  # e.g. waiting for the guest to power off, or for a free VF
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
    INFO = "info"


class Result(StrEnum):
    CONVERTED = "converted"  # on the pool (running and verified, or re-defined while shut off)
    UNCHANGED = "unchanged"  # nothing was changed (e.g. did not shut down in time)
    ROLLED_BACK = "rolled-back"  # something failed; the original definition and state are back
    FAILED = "failed"  # rollback failed too: manual action needed (message says what and how)
    SKIPPED = "skipped"  # not attempted (--stop-on-error after another guest failed, or cancelled)
    INTERRUPTED = "interrupted"  # cancelled mid-way; the journal holds it for resume / rollback


@dataclass(frozen=True)
class StepEvent:
    guest: str
    step: Step
    state: StepState
    message: str
    time: float = field(default_factory=time.time)  # wall clock, seconds since the epoch
    detail: str | None = None  # e.g. the XML defined, a libvirt error text
    result: Result | None = None  # set on the one DONE event each guest ends with

    def line(self) -> str:
        return f"{self.guest}: {self.step} {self.state}: {self.message}"


@dataclass(frozen=True)
class GuestPlan:
    """What will happen to one guest: each of ``sources`` onto its pool (``networks``, aligned with
    ``sources``; empty: every source onto ``network``). Devices not in ``sources`` are left as they are."""

    guest: str
    uuid: str
    network: str  # the pool of the first source (all of them unless ``networks`` says otherwise)
    state: str  # libvirt state when planned ("running", "shut off", ...)
    was_running: bool  # will be started again afterwards
    sources: tuple[str, ...]  # host VF addresses whose devices become pool interfaces
    macs: tuple[tuple[str, str], ...]  # (source, MAC) given for bare hostdevs
    new_mac_sources: tuple[str, ...]  # bare hostdevs whose guest will see a new MAC
    old_xml: str  # inactive XML when planned (display copy, no secrets)
    new_xml: str
    notes: tuple[str, ...] = ()
    pool_sources: tuple[str, ...] = ()  # the subset of sources that are VFs of their own target pool
    networks: tuple[str, ...] = ()  # the pool of each source (device by device)
    gives_back: tuple[tuple[str, str], ...] = ()  # (source, pool) for each source that is a VF of a pool
    boot_warnings: tuple[str, ...] = ()  # what a new MAC breaks for a device the guest boots from

    @property
    def targets(self) -> tuple[tuple[str, str], ...]:
        """(source, pool) for each converted device."""
        if self.networks:
            return tuple(zip(self.sources, self.networks))
        return tuple((s, self.network) for s in self.sources)

    @property
    def pools(self) -> tuple[str, ...]:
        """The pools this guest goes onto, in device order."""
        return pools_of(n for _s, n in self.targets)

    @property
    def vfs_needed(self) -> int:
        """VFs this guest takes from its pool(s) while it runs."""
        return len(self.sources) if self.was_running else 0

    def needs(self) -> dict[str, int]:
        """{pool: VFs it takes from that pool beyond what it gives back to it}; may be < 0."""
        out: dict[str, int] = {}
        if not self.was_running:
            return out
        for _src, net in self.targets:
            out[net] = out.get(net, 0) + 1
        gives = self.gives_back or tuple((s, self.network) for s in self.pool_sources)
        for _src, net in gives:
            out[net] = out.get(net, 0) - 1
        return out

    def diff(self) -> str:
        from vfpool_tui.core.conversion.transform import unified_diff

        return unified_diff(self.old_xml, self.new_xml, self.guest)


@dataclass(frozen=True)
class Refusal:
    guest: str
    reason: str


@dataclass(frozen=True)
class PoolBudget:
    """One pool's VF count for a plan."""

    network: str
    free: int | None  # free VFs now (None: unknown)
    available: int | None  # free now + this pool's VFs the planned guests give back
    needed: int  # VFs the guests running afterwards take from it

    def describe(self) -> str:
        if self.available is None:
            avail = "available unknown"
        elif self.available != self.free:
            # the pool's free count is the one `pool list` shows; the guests' own hard-coded pool
            # VFs come back to the pool when they shut down
            back = self.available - (self.free or 0)
            avail = f"available {self.available} ({self.free} free now + {back} given back by these guests)"
        else:
            avail = f"available {self.available} (free now)"
        return f"VFs needed {self.needed}, {avail}"


@dataclass(frozen=True)
class Plan:
    network: str  # the pool given for every device (``--network``); "" when each device names its own
    guests: tuple[GuestPlan, ...]
    refused: tuple[Refusal, ...] = ()
    pool_free: int | None = None  # free VFs now (None: unknown); the sum over ``budgets``
    vfs_available: int | None = None  # free now + pool VFs the planned guests give back (summed)
    vfs_needed: int = 0  # VFs the guests running afterwards take (summed)
    warnings: tuple[str, ...] = ()
    budgets: tuple[PoolBudget, ...] = ()  # per pool the guests go onto

    @property
    def ok(self) -> bool:
        return not self.refused and bool(self.guests)

    @property
    def networks(self) -> tuple[str, ...]:
        """Every pool the planned guests go onto (the given one when nothing is planned)."""
        return pools_of([n for g in self.guests for n in g.pools] or [self.network])

    def target_phrase(self) -> str:
        """``pool 'a'`` / ``pools 'a', 'b'``."""
        return pool_phrase(self.networks)

    def summary(self) -> str:
        running = sum(1 for g in self.guests if g.was_running)
        nets = self.networks
        where = (f"network '{nets[0]}'" if len(nets) == 1
                 else "networks " + ", ".join(f"'{n}'" for n in nets))
        head = f"{len(self.guests)} guest(s) to {where}, {running} to restart (downtime for each)"
        budgets = self.budgets or (PoolBudget(self.network, self.pool_free, self.vfs_available,
                                              self.vfs_needed),)
        if len(budgets) == 1:
            return f"{head}, {budgets[0].describe()}"
        return head + "; " + "; ".join(f"'{b.network}': {b.describe()}" for b in budgets)


@dataclass(frozen=True)
class GuestOutcome:
    guest: str
    result: Result
    message: str  # plain language, says what state the guest is in
    state: str | None = None  # libvirt state at the end ("running", "shut off"; None unknown)
    vfs: tuple[str | None, ...] = ()  # VF each converted interface got; None = unknown
    macs: tuple[str | None, ...] = ()
    record: str | None = None  # journal record directory
    backup: str | None = None  # file with the original inactive XML


@dataclass(frozen=True)
class Outcome:
    guests: tuple[GuestOutcome, ...]
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return not self.cancelled and all(g.result is Result.CONVERTED for g in self.guests)

    def of(self, guest: str) -> GuestOutcome | None:
        for g in self.guests:
            if g.guest == guest:
                return g
        return None


# what the engine hands each StepEvent to (called from its worker threads, one call at a time)
EventSink = Callable[[StepEvent], None]

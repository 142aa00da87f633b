"""Typed records the conversion engine hands out: step events while it runs, plans and outcomes.

Frozen dataclasses with no UI in them: the CLI prints them, the TUI renders them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Callable


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
    """What will happen to one guest."""

    guest: str
    uuid: str
    network: str
    state: str  # libvirt state when planned ("running", "shut off", ...)
    was_running: bool  # will be started again afterwards
    sources: tuple[str, ...]  # host VF addresses whose devices become pool interfaces
    macs: tuple[tuple[str, str], ...]  # (source, MAC) given for bare hostdevs
    new_mac_sources: tuple[str, ...]  # bare hostdevs whose guest will see a new MAC
    old_xml: str  # inactive XML when planned (display copy, no secrets)
    new_xml: str
    notes: tuple[str, ...] = ()
    pool_sources: tuple[str, ...] = ()  # the subset of sources that are VFs of the pool itself

    @property
    def vfs_needed(self) -> int:
        """VFs this guest takes from the pool while it runs."""
        return len(self.sources) if self.was_running else 0

    def diff(self) -> str:
        from vfpool_tui.core.conversion.transform import unified_diff

        return unified_diff(self.old_xml, self.new_xml, self.guest)


@dataclass(frozen=True)
class Refusal:
    guest: str
    reason: str


@dataclass(frozen=True)
class Plan:
    network: str
    guests: tuple[GuestPlan, ...]
    refused: tuple[Refusal, ...] = ()
    pool_free: int | None = None  # free VFs now (None: unknown)
    vfs_available: int | None = None  # free now + pool VFs the planned guests give back
    vfs_needed: int = 0  # VFs the guests running afterwards take
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.refused and bool(self.guests)

    def summary(self) -> str:
        running = sum(1 for g in self.guests if g.was_running)
        if self.vfs_available is None:
            avail = "available unknown"
        elif self.vfs_available != self.pool_free:
            # the pool's free count is the one `pool list` shows; the guests' own hard-coded pool
            # VFs come back to the pool when they shut down
            back = self.vfs_available - (self.pool_free or 0)
            avail = (f"available {self.vfs_available} ({self.pool_free} free now + {back} "
                     f"given back by these guests)")
        else:
            avail = f"available {self.vfs_available} (free now)"
        return (f"{len(self.guests)} guest(s) to network '{self.network}', {running} to restart "
                f"(downtime for each), VFs needed {self.vfs_needed}, {avail}")


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

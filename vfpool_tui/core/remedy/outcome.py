"""What a remedy run reports: its step names (beside the conversion's ``Step``), the result of each
row (the remedy's target, each VF, each guest) and of the whole run."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vfpool_tui.core.conversion.events import GuestOutcome


class RemedyStep(StrEnum):
    """Steps a remedy has beside the conversion's (precheck, backup, shutdown, start, rollback, done)."""

    REATTACH = "reattach"  # virNodeDeviceReAttach
    NETWORK = "network"  # virNetworkDestroy / virNetworkCreate
    NUMVFS = "numvfs"  # sriov_numvfs written
    VFS = "vfs"  # waiting for the kernel's VFs
    RULE = "rule"  # the boot-time udev rule


class RemedyResult(StrEnum):
    """A row's or a run's result. Values shared with the conversion's ``Result`` mean the same."""

    DONE = "done"  # carried out (a guest: running again, as before)
    UNCHANGED = "unchanged"  # refused or stopped before anything changed
    UNDONE = "rolled-back"  # something failed; what was done is undone, guests as before
    FAILED = "failed"  # left half-way: the message says what is left and how to finish
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"  # libvirt lost mid-way: the journal record stays open (remedy resume)


@dataclass(frozen=True)
class RemedyOutcome:
    kind: str
    result: RemedyResult
    message: str  # plain language, says what state everything is in
    guests: tuple[GuestOutcome, ...] = ()  # one per row: the target (or each VF), then each guest
    record: str | None = None  # the journal record directory
    cancelled: bool = False
    left: tuple[str, ...] = ()  # what an undo could not put back

    @property
    def ok(self) -> bool:
        return self.result is RemedyResult.DONE

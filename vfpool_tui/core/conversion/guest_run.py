"""One guest's conversion while it runs: what was planned or recorded, and what happened so far.

Built by the run sequence from a plan or from a journal record (resume / rollback), and
passed to every step, wait and rollback of that guest.
"""

from __future__ import annotations

from dataclasses import dataclass

from vfpool_tui.core.conversion.events import Step
from vfpool_tui.core.conversion.journal import Record


@dataclass
class GuestRun:
    """One guest's conversion while it runs (plan or journal record + live handles)."""

    guest: str
    uuid: str
    network: str
    sources: tuple[str, ...]
    pool_sources: tuple[str, ...]
    macs: dict
    was_running: bool
    dom: object = None
    record: Record | None = None
    original_xml: str = ""
    new_xml: str = ""
    changes: tuple = ()
    released: bool = False
    releaser: bool = False
    base_xml: str = ""  # the definition new_xml was made from: it must still be in place to define
    step: Step = Step.PRECHECK  # the step under way (for an honest message when libvirt is lost)
    net_need: int = 0  # pool VFs this guest takes beyond the pool VFs it gives back (may be < 0)
    budget_delta: int = 0  # VFs taken off the budget for this guest so far (given back on rollback)
    touched: bool = False  # an ACPI request, destroy or define was sent
    resuming: bool = False  # driven from a journal record (resume / rollback)

"""One guest's conversion while it runs: what was planned or recorded, and what happened so far.

Built by the run sequence from a plan or from a journal record (resume / rollback), and
passed to every step, wait and rollback of that guest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vfpool_tui.core.conversion.devices import pool_phrase, pools_of
from vfpool_tui.core.conversion.events import Step
from vfpool_tui.core.conversion.journal import Record


@dataclass
class GuestRun:
    """One guest's conversion while it runs (plan or journal record + live handles)."""

    guest: str
    uuid: str
    network: str  # the pool of every source, unless ``targets`` names one per source
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
    # {pool: VFs this guest takes beyond the VFs it gives back to that pool} (a value may be < 0)
    net_need: dict = field(default_factory=dict)
    budget_delta: dict = field(default_factory=dict)  # {pool: VFs taken off the budget so far}
    touched: bool = False  # an ACPI request, destroy or define was sent
    resuming: bool = False  # driven from a journal record (resume / rollback)
    targets: dict = field(default_factory=dict)  # {source: pool}, device by device (empty: all on network)
    gives_back: tuple = ()  # ((source, pool), ...): its hard-coded VFs that are VFs of a pool

    def target_map(self) -> dict[str, str]:
        """{source: pool} for every converted device."""
        return {s: self.targets.get(s) or self.network for s in self.sources}

    @property
    def pools(self) -> tuple[str, ...]:
        return pools_of(self.target_map().values()) or (self.network,)

    def on_pools(self) -> str:
        """``pool 'a'`` / ``pools 'a', 'b'`` for messages."""
        return pool_phrase(self.pools)

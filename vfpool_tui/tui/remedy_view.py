"""From a ``Scan`` to the remedies the troubleshoot view offers on ``f``, beside the finding each
fixes, and how their plan and result read. Plain functions, no widgets, no I/O; names from libvirt
go into ``rich.text.Text`` verbatim.

Offered for the selected pool: restart it when it is stale (``pool-stale``); grow its PF when the
pool is over one PF of this machine with room for more VFs and the pool is full or short; and, on
any pool, release the host's leaked VFs (``vfio-unused``). Each offer builds its plan from the scan
of the moment it is chosen; a refusal is shown instead of the confirmation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text

from vfpool_tui.core.health.diagnose import PoolUsage
from vfpool_tui.core.model import Scan
from vfpool_tui.core.remedy import plans
from vfpool_tui.core.remedy.outcome import RemedyOutcome, RemedyResult
from vfpool_tui.core.remedy.plans import RemedyPlan
from vfpool_tui.tui.view import safe


@dataclass(frozen=True)
class Offer:
    kind: str  # plans.RELEASE_VFS | RESTART_POOL | GROW_PF
    label: str  # what the picker and the findings pane say
    problem: str  # the finding it fixes
    build: Callable[[Scan], RemedyPlan]  # raises RemedyRefused


def offers(scan: Scan, u: PoolUsage | None, sysfs_root: str, udev_root: str) -> list[Offer]:
    out: list[Offer] = []
    if u is not None:
        name = u.pool.name
        if plans.stale_problem(scan, name) is not None:
            out.append(Offer(plans.RESTART_POOL, f"restart pool '{name}' to rebuild its VF list",
                             "pool-stale", lambda s: plans.plan_restart(s, name)))
        pf = scan.host.pf(u.pool.pfs[0]) if len(u.pool.pfs) == 1 else None
        full = u.pool.free is not None and u.pool.free <= 0
        if (pf is not None and pf.numvfs < pf.totalvfs and (u.shortfall or full or pf.numvfs == 0)
                and scan.meta.get("discovery") != "libvirt"):
            n = min(pf.totalvfs, pf.numvfs + max(u.shortfall or 0, 1))
            out.append(Offer(plans.GROW_PF, f"grow {pf.name} from {pf.numvfs} to {n} VFs",
                             "pool short of VFs" if u.shortfall else "pool full",
                             lambda s, key=pf.pci, n=n: plans.plan_grow(
                                 s, key, n, sysfs_root=sysfs_root, udev_root=udev_root)))
    leaked = plans.leaked_vfs(scan)
    if leaked:
        out.append(Offer(plans.RELEASE_VFS, f"release {len(leaked)} leaked VF{'s' if len(leaked) != 1 else ''} "
                         "to the host driver", "vfio-unused", lambda s: plans.plan_release(s)))
    return out


def offers_line(found: list[Offer]) -> Text:
    """``Fix (f): restart pool 'x' · release 1 leaked VF`` (empty when there is nothing to fix)."""
    if not found:
        return Text("")
    out = Text("Fix (f): ", style="bold")
    out.append(" · ".join(safe(o.label) for o in found))
    return out


def plan_body(plan: RemedyPlan) -> Text:
    """The confirmation's body: the guests that go down, the steps, the warnings."""
    out = Text()
    lines = plan.describe()[1:]
    for i, line in enumerate(lines):
        style = "bold" if line.startswith(("guests shut down", "steps:")) else (
            "yellow" if line.startswith("warning:") else "")
        out.append(safe(line), style=style)
        if i < len(lines) - 1:
            out.append("\n")
    out.append("\nSame on the command line: ", style="dim")
    out.append(safe(plan.command()), style="dim")
    return out


RESULT_STYLE = {RemedyResult.DONE: "bold green", RemedyResult.UNCHANGED: "yellow",
                RemedyResult.UNDONE: "bold yellow", RemedyResult.FAILED: "bold red",
                RemedyResult.SKIPPED: "dim", RemedyResult.INTERRUPTED: "bold magenta"}


def summary(outcome: RemedyOutcome | None, error: str | None) -> Text:
    out = Text()
    if error:
        out.append("✖ ", style="bold red")
        out.append(safe(error))
        return out
    if outcome is None:
        return out
    out.append(f"{outcome.result}", style=RESULT_STYLE.get(outcome.result, "bold"))
    out.append(": ")
    out.append(safe(outcome.message))
    if outcome.record:
        out.append("\n  journal: ", style="dim")
        out.append(safe(outcome.record), style="dim")
    return out

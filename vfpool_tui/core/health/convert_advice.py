"""What to tell the operator about converting guests to a pool: only what the converter carries out.

``core.conversion.plan.build_plan`` refuses some conversions (an inactive pool, a paused or
transient guest, a hard-coded VF on another PF than the pool's unless the operator allows it).
Advice that names a conversion (troubleshoot, ``why``) goes through ``conversion_refusal`` first,
which applies the same rules to the scan, so it never recommends one the converter refuses.
(``health`` may not import ``conversion``: both stand on the model, side by side.)
"""

from __future__ import annotations

import shlex

from vfpool_tui.core.convertible import guest_refusal
from vfpool_tui.core.convertible import pool_pf_pcis as _pool_pf_pcis
from vfpool_tui.core.model import Guest, Pool, Scan
from vfpool_tui.core.wording import names as _names


def pool_pf_pcis(scan: Scan, pool: Pool) -> set[str]:
    """The PFs a pool draws its VFs from (``core.convertible.pool_pf_pcis``, the converter's rule)."""
    return _pool_pf_pcis(scan.host, pool)


def conversion_refusal(scan: Scan, guest: Guest, pool: Pool) -> str | None:
    """Why the converter would refuse to move ``guest`` onto ``pool``, as far as the scan tells
    (the same rules as ``core.conversion.plan.build_plan``, which also reads the journal and
    libvirt's schema); None when it would take it. A VF on another PF than the pool's is refused
    unless the operator allows another PF (``a`` in the TUI, ``--allow-other-pf``)."""
    if not pool.active:
        return f"pool {pool.name} is not active"
    why = guest_refusal(guest)
    if why:
        return f"{guest.name}: {why}"
    uses = [u for u in guest.convertible if not u.unassigned]
    if not uses:
        return f"{guest.name} hard-codes no VF the converter can move"
    pfs = pool_pf_pcis(scan, pool)
    other = []
    for u in uses:
        vf = scan.host.vf(u.pci) if u.pci else None
        if vf is not None and pfs and vf.pf_pci not in pfs:
            pf = scan.host.pf(vf.pf_pci)
            other.append(f"{u.pci} (PF {pf.name if pf is not None else vf.pf_pci})")
    if other:
        return (f"{guest.name} also hard-codes {_names(other)}, on another PF than pool {pool.name}: "
                "the converter moves all of a guest's hard-coded VFs, and onto another PF (another "
                "port, perhaps another network) only when told to (a in the converter, "
                "--allow-other-pf)")
    return None


def convert_actions(scan: Scan, guest_names: list[str] | tuple[str, ...], pool: Pool,
                    why: str = "") -> tuple[str, ...]:
    """What to tell the operator to do about guests that hard-code VFs of ``pool``: convert those
    the converter takes (``why``: what that achieves), and for each it would refuse, why and what
    else there is. Never a conversion the converter refuses."""
    by_name = {g.name: g for g in scan.guests}
    ok, refused = [], []
    for name in dict.fromkeys(guest_names):
        g = by_name.get(name)
        reason = conversion_refusal(scan, g, pool) if g is not None else f"no guest named {name}"
        if reason is None:
            ok.append(name)
        else:
            refused.append(reason)
    out = []
    if ok:
        words = " ".join(shlex.quote(n) for n in ok)
        if any(n.startswith("-") for n in ok):
            words = "-- " + words
        out.append(f"Convert {_names(ok)} to {pool.name}{why} "
                   f"(vfpool-tui convert --network {shlex.quote(pool.name)} {words}).")
    for reason in refused:
        out.append(f"Not converted as it is: {reason}. Or give the guest a VF outside the pool.")
    return tuple(out)

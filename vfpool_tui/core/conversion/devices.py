"""Device by device: which of a guest's hard-coded VF devices go to which pool.

A conversion names its pools per device (``DeviceTarget``): the device is named the way an operator
sees it (its MAC, its user alias ``ua-...``, or the host VF's PCI address) and resolved here to one
hard-coded VF device of the guest (``resolve``). A guest with device targets converts only those
devices, each onto its own pool; its other devices are left as they are.

Also the wording shared by plans, events and the journal for "the pool(s)" of a guest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vfpool_tui.core import pci
from vfpool_tui.core.model import Guest, VfUse


@dataclass(frozen=True)
class DeviceTarget:
    """Put one device of a guest on a pool. ``device``: a MAC, a user alias or the VF's PCI address;
    ``allow_other_pf``: the pool may be over another PF than the device's VF (another port)."""

    device: str
    network: str
    allow_other_pf: bool = False


class DeviceNotFound(ValueError):
    """The selector names no device of the guest, or more than one. ``str()`` says which."""


def describe_device(u: VfUse, more: str = "") -> str:
    """``ua-sriov-wan (0000:03:10.1)``, or the MAC, or the bare address: how a message names it
    (``more``: ``ua-sriov-wan (0000:03:10.1, PF enp3s0f1)``)."""
    name = u.alias if u.alias and u.alias.startswith("ua-") else u.mac
    inner = f"{u.pci}, {more}" if more else str(u.pci)
    return f"{name} ({inner})" if name else (f"{u.pci} ({more})" if more else str(u.pci))


def matches(u: VfUse, selector: str) -> bool:
    sel = selector.strip()
    if not sel:
        return False
    if u.alias and sel == u.alias:
        return True
    if u.mac and sel.lower() == u.mac.lower():
        return True
    if u.pci and pci.is_address(sel):
        try:
            return pci.normalize(sel) == u.pci
        except pci.PciAddressError:
            return False
    return False


def resolve(guest: Guest, selector: str, uses: Iterable[VfUse] | None = None) -> VfUse:
    """The one hard-coded VF device of ``guest`` that ``selector`` names (MAC, alias or VF address)."""
    pool = list(guest.convertible if uses is None else uses)
    found = [u for u in pool if matches(u, selector)]
    if len(found) == 1:
        return found[0]
    if found:
        raise DeviceNotFound(f"'{selector}' names {len(found)} of its devices ("
                             + ", ".join(describe_device(u) for u in found) + "); name one by its VF address")
    on_pool = [u for u in guest.vf_uses if u not in pool and matches(u, selector)]
    if on_pool and on_pool[0].network:
        raise DeviceNotFound(f"'{selector}' is already on pool '{on_pool[0].network}'")
    have = ", ".join(describe_device(u) for u in pool) or "none"
    raise DeviceNotFound(f"no hard-coded VF device '{selector}' (a MAC, a user alias or a VF address; "
                         f"its devices: {have})")


def pools_of(networks: Iterable[str]) -> tuple[str, ...]:
    """The distinct pool names, in first-seen order."""
    out: list[str] = []
    for n in networks:
        if n and n not in out:
            out.append(n)
    return tuple(out)


def pool_phrase(networks: Iterable[str]) -> str:
    """``pool 'a'`` or ``pools 'a', 'b'`` (for messages)."""
    names = pools_of(networks)
    if len(names) == 1:
        return f"pool '{names[0]}'"
    return "pools " + ", ".join(f"'{n}'" for n in names)

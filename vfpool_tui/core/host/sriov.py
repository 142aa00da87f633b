"""Changing how many VFs a PF has (``sriov_numvfs``) and keeping that count across reboots.

The kernel (drivers/pci/iov.c, ``sriov_numvfs_store``) behaves like this:
- writing the current count is a no-op;
- going from a non-zero count to another non-zero count is refused with EBUSY: write 0 first, which
  DESTROYS every VF of the PF (guests holding one lose it);
- ERANGE above ``sriov_totalvfs``, EINVAL for something that is not a number;
- ENOENT when no driver is bound to the PF or its driver cannot configure SR-IOV through sysfs;
- the PF driver's own refusal otherwise (ENOMEM, EIO, ENOSPC, EOPNOTSUPP, ...), told in dmesg.
The file is root-only for writing (EACCES/EPERM otherwise).

The count does not survive a reboot. ``udev_rule_text`` makes a rule that sets it again each time
the PF's driver binds at boot:

    ACTION=="bind", SUBSYSTEM=="pci", KERNEL=="0000:3b:00.0", ATTR{sriov_numvfs}="8"

Why this form: matching the PCI address names exactly this PF (stable across reboots, unlike a netdev
name; a rule keyed on ``ENV{ID_NET_DRIVER}`` would hit every port that driver runs). ``bind`` rather
than ``add``: the PCI ``add`` event comes when the device is enumerated, before its driver has
probed, and the kernel then refuses the write (ENOENT, "no driver bound to device; cannot configure
SR-IOV"); ``bind`` (kernel >= 4.14, systemd-udev >= 235) comes after the driver's probe succeeded.

Under umockdev, /sys is an emulated tree: a write lands in that tree's file and creates no VFs.
"""

from __future__ import annotations

import errno
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from vfpool_tui.core import pci as _pci
from vfpool_tui.core.model import PF, Scan, UseKind, VfUse

SYSFS = "/sys"
UDEV_RULES_DIR = "etc/udev/rules.d"


class SriovError(RuntimeError):
    """A numvfs change or a udev rule write that could not be done. ``str()`` is one line."""


@dataclass(frozen=True)
class NumvfsChange:
    pf_pci: str
    old: int
    new: int
    writes: tuple[int, ...]  # values written, in order (e.g. (0, 8) when changing 4 -> 8)

    @property
    def changed(self) -> bool:
        return bool(self.writes)


# --------------------------------------------------------------------------- who holds the VFs


def _pf_netdevs(pf: PF) -> set[str]:
    return set(pf.netdevs)


def held_vfs(scan: Scan, pf: PF) -> tuple[VfUse, ...]:
    """Devices of RUNNING guests that hold a VF of ``pf`` now.

    A hard-coded VF of the PF in a running guest, and a running guest's pool interface on a pool
    over this PF, even when which VF it got is unknown (it holds one of them all the same).
    """
    vf_pcis = {vf.pci for vf in pf.vfs} | set(pf.possible_vf_addresses()[: max(pf.numvfs, 0)])
    pools_of_pf = {p.name for p in scan.pools
                   if _pf_netdevs(pf) & set(p.pfs) or vf_pcis & set(p.addresses)}
    out = []
    for guest in scan.guests:
        for use in guest.vf_uses:
            if not (use.active or guest.active):
                continue  # a shut-off guest holds nothing now
            if use.pci is not None and use.pci in vf_pcis:
                out.append(use)
            elif use.kind is UseKind.POOL and use.network in pools_of_pf and guest.active:
                out.append(use)
    return tuple(out)


def numvfs_problem(scan: Scan, pf: PF, n: int) -> str | None:
    """Why ``pf`` cannot be set to ``n`` VFs now, or None. Checks the count and running holders."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        return f"the VF count must be a whole number >= 0, not {n!r}"
    if pf.totalvfs <= 0:
        return f"{pf.name} is not SR-IOV capable (sriov_totalvfs is 0)"
    if n > pf.totalvfs:
        return f"{pf.name} supports at most {pf.totalvfs} VFs (sriov_totalvfs), not {n}"
    if n == pf.numvfs or pf.numvfs == 0:
        return None  # nothing destroyed: no change, or only VFs created
    holders = held_vfs(scan, pf)
    if holders:
        who = ", ".join(sorted({u.guest for u in holders}))
        return (f"cannot change {pf.name} from {pf.numvfs} to {n} VFs: the kernel requires writing 0 "
                f"first, which destroys all its VFs, and running guests hold some of them ({who}); "
                "shut those guests down first")
    return None


# --------------------------------------------------------------------------- sysfs


def numvfs_path(pf_pci: str, sysfs_root: str = SYSFS) -> str:
    return os.path.join(sysfs_root, "bus", "pci", "devices", _pci.normalize(pf_pci), "sriov_numvfs")


def read_numvfs(pf_pci: str, sysfs_root: str = SYSFS) -> int:
    path = numvfs_path(pf_pci, sysfs_root)
    try:
        with open(path, encoding="ascii") as fh:
            return int(fh.read().strip() or "0")
    except FileNotFoundError:
        raise SriovError(_missing(pf_pci, sysfs_root)) from None
    except (OSError, ValueError) as err:
        raise SriovError(f"cannot read {path}: {getattr(err, 'strerror', None) or err}") from None


def _missing(pf_pci: str, sysfs_root: str) -> str:
    dev = os.path.dirname(numvfs_path(pf_pci, sysfs_root))
    if not os.path.isdir(dev):
        return f"PCI device {pf_pci} is gone (no {dev})"
    return f"PCI device {pf_pci} is not an SR-IOV PF (it has no sriov_numvfs)"


def _explain(err: OSError, pf_pci: str, value: int, sysfs_root: str) -> str:
    path = numvfs_path(pf_pci, sysfs_root)
    code = err.errno
    if code in (errno.EACCES, errno.EPERM):
        return f"not root: writing {path} needs root (run with sudo)"
    if code in (errno.ENODEV, errno.ENXIO):
        return f"PCI device {pf_pci} is gone"
    if code == errno.ENOENT:
        if not os.path.exists(path):
            return _missing(pf_pci, sysfs_root)
        return (f"the kernel refused {value} VFs on {pf_pci}: no driver is bound to the PF, or its "
                "driver cannot configure SR-IOV through sysfs (see dmesg)")
    if code == errno.EBUSY:
        return (f"the driver refused {value} VFs on {pf_pci}: VFs are already enabled or the device "
                "is busy (see dmesg)")
    if code in (errno.EINVAL, errno.ERANGE):
        return f"the driver refused {value} VFs on {pf_pci}: value out of range (see dmesg)"
    why = err.strerror or os.strerror(code or 0)
    return f"the driver refused {value} VFs on {pf_pci}: {why} (see dmesg)"


def _write(pf_pci: str, value: int, sysfs_root: str) -> None:
    path = numvfs_path(pf_pci, sysfs_root)
    try:
        with open(path, "w", encoding="ascii") as fh:
            fh.write(f"{value}\n")
    except OSError as err:
        raise SriovError(_explain(err, pf_pci, value, sysfs_root)) from None


def set_numvfs(pf_pci: str, n: int, *, scan: Scan | None = None, totalvfs: int | None = None,
               sysfs_root: str = SYSFS) -> NumvfsChange:
    """Set the PF's VF count to ``n``: 0 first when changing a non-zero count.

    With ``scan``, refuse (SriovError, nothing written) while a running guest holds a VF of the PF.
    When the final write fails after 0 was written, the old count is written back (best effort; the
    old VFs are new devices then: their drivers and MACs start from defaults).
    """
    pf_pci = _pci.normalize(pf_pci)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise SriovError(f"the VF count must be a whole number >= 0, not {n!r}")
    if totalvfs is not None and n > totalvfs:
        raise SriovError(f"PF {pf_pci} supports at most {totalvfs} VFs (sriov_totalvfs), not {n}")
    if scan is not None:
        pf = scan.host.pf(pf_pci)
        if pf is not None:
            problem = numvfs_problem(scan, pf, n)
            if problem:
                raise SriovError(problem)
    old = read_numvfs(pf_pci, sysfs_root)
    if old == n:
        return NumvfsChange(pf_pci, old, n, ())
    writes: list[int] = []
    if old != 0 and n != 0:
        _write(pf_pci, 0, sysfs_root)
        writes.append(0)
    try:
        _write(pf_pci, n, sysfs_root)
    except SriovError as err:
        if writes and old:
            try:
                _write(pf_pci, old, sysfs_root)
            except SriovError as err2:
                raise SriovError(f"{err}; writing back {old} VFs also failed: {err2}") from None
            raise SriovError(f"{err}; {old} VFs were written back") from None
        raise
    writes.append(n)
    return NumvfsChange(pf_pci, old, n, tuple(writes))


VF_WAIT = 10.0  # seconds the kernel gets to create the VFs after sriov_numvfs was written


def present_vfs(pf_pci: str, sysfs_root: str = SYSFS) -> int:
    """How many VFs the kernel shows for the PF now (its ``virtfnN`` links)."""
    dev = os.path.dirname(numvfs_path(pf_pci, sysfs_root))
    try:
        return sum(1 for name in os.listdir(dev) if name.startswith("virtfn"))
    except OSError:
        return 0


def present_vf_addresses(pf_pci: str, sysfs_root: str = SYSFS) -> tuple[str, ...]:
    """The PCI addresses of the VFs the kernel shows for the PF now, in VF order (``virtfnN``)."""
    dev = os.path.dirname(numvfs_path(pf_pci, sysfs_root))
    found = []
    try:
        for name in os.listdir(dev):
            if name.startswith("virtfn") and name[6:].isdigit():
                target = os.path.basename(os.readlink(os.path.join(dev, name)))
                found.append((int(name[6:]), _pci.normalize(target)))
    except (OSError, _pci.PciAddressError):
        return ()
    return tuple(addr for _i, addr in sorted(found))


def wait_for_vfs(pf_pci: str, n: int, sysfs_root: str = SYSFS, timeout: float | None = None,
                 poll: float = 0.1) -> float:
    """Wait (bounded: ``VF_WAIT`` s) until the kernel shows ``n`` VFs of the PF; the seconds it took.

    SriovError when they do not appear in time (the caller undoes the write)."""
    timeout = VF_WAIT if timeout is None else timeout
    start = time.monotonic()
    while True:
        have = present_vfs(pf_pci, sysfs_root)
        waited = time.monotonic() - start
        if have == n:
            return waited
        if waited >= timeout:
            raise SriovError(f"PF {_pci.normalize(pf_pci)}: {n} VFs were written to sriov_numvfs, but "
                             f"{have} appeared within {timeout:g} s")
        time.sleep(poll)


# --------------------------------------------------------------------------- udev rule


def udev_rule_path(pf_pci: str, root: str = "/") -> Path:
    """``/etc/udev/rules.d/70-vfpool-0000-3b-00.0.rules`` (under ``root`` for tests)."""
    tag = _pci.normalize(pf_pci).replace(":", "-")
    return Path(root) / UDEV_RULES_DIR / f"70-vfpool-{tag}.rules"


def udev_rule_text(pf: PF, n: int) -> str:
    """The rule file that sets ``n`` VFs on ``pf`` each time its driver binds (see module doc)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise SriovError(f"the VF count must be a whole number >= 0, not {n!r}")
    address = _pci.normalize(pf.pci)
    names = ", ".join(pf.netdevs) or "no netdev"
    return (
        f"# Written by vfpool-tui: create {n} SR-IOV VFs on PF {address} ({names}, "
        f"{pf.driver or 'driver unknown'}) at boot.\n"
        "# 'bind' comes after the PF driver has probed; a PCI 'add' would be too early for the write.\n"
        "# Remove this file to stop it; it changes nothing until the next boot or driver bind.\n"
        f'ACTION=="bind", SUBSYSTEM=="pci", KERNEL=="{address}", ATTR{{sriov_numvfs}}="{n}"\n'
    )


@dataclass(frozen=True)
class RuleWrite:
    path: Path
    previous: str | None  # the file's content before, None when it did not exist


def write_udev_rule(pf: PF, n: int, root: str = "/") -> RuleWrite:
    """Write (atomically) the rule file; return what was there before so it can be put back."""
    path = udev_rule_path(pf.pci, root)
    text = udev_rule_text(pf, n)
    previous = None
    try:
        previous = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        pass
    except OSError as err:
        raise SriovError(f"cannot read {path}: {err.strerror or err}") from None
    _atomic_write(path, text)
    return RuleWrite(path, previous)


def undo_rule_write(done: RuleWrite) -> None:
    """Put back what ``write_udev_rule`` replaced (or remove the file it created)."""
    if done.previous is None:
        try:
            done.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as err:
            raise SriovError(f"cannot remove {done.path}: {err.strerror or err}") from None
    else:
        _atomic_write(done.path, done.previous)


def _atomic_write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError as err:
        if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise SriovError(f"not root: writing {path} needs root (run with sudo)") from None
        raise SriovError(f"cannot write {path}: {err.strerror or err}") from None

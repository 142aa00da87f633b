"""The demo's stand-in for the kernel's SR-IOV: VFs appear when ``sriov_numvfs`` is written.

Under umockdev, ``/sys`` is a directory tree (the testbed): writing a PF's ``sriov_numvfs`` only
changes a file, and no VF appears, where the kernel would create them. ``SriovEmulator`` watches the
tree and does what the kernel does, as far as discovery can see: for N written it creates N VF
devices at the addresses the PF's ``sriov_offset``/``sriov_stride`` give (vendor, the PF's
``sriov_vf_device``, ``physfn``, the PF's ``virtfnN`` links, ``/sys/bus/pci/devices`` entries),
bound to the PF's driver when ``sriov_drivers_autoprobe`` is 1; for 0 it removes them again.
It only ever touches the tree it was given (the demo's testbed, inside the demo's private directory).
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path

_VIRTFN = re.compile(r"^virtfn(\d+)$")
_ADDR = re.compile(r"^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$")


def _read(path: Path, default: str = "") -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return default


def vf_address(pf_pci: str, offset: int, stride: int, index: int) -> str:
    """The PCI address of VF ``index`` (routing ID arithmetic, as the kernel does it)."""
    m = _ADDR.match(pf_pci)
    if m is None:
        raise ValueError(f"not a PCI address: {pf_pci}")
    domain, bus, slot, func = (int(g, 16) for g in m.groups())
    rid = (bus << 8 | slot << 3 | func) + offset + index * stride
    return f"{domain:04x}:{rid >> 8 & 0xff:02x}:{rid >> 3 & 0x1f:02x}.{rid & 7}"


class SriovEmulator:
    """Keeps each PF's VFs in ``sys_dir`` (a sysfs tree) in line with its ``sriov_numvfs``."""

    def __init__(self, sys_dir: str | os.PathLike, interval: float = 0.1) -> None:
        self.sys = Path(sys_dir)
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def pfs(self) -> list[Path]:
        devices = self.sys / "bus" / "pci" / "devices"
        try:
            entries = sorted(devices.iterdir())
        except OSError:
            return []
        return [e for e in entries if (e / "sriov_totalvfs").exists() and (e / "sriov_numvfs").exists()]

    def sync(self) -> None:
        """One look: create or remove VFs wherever ``sriov_numvfs`` and the VFs differ."""
        for pf in self.pfs():
            want = _read(pf / "sriov_numvfs", "0")
            have = sorted(int(m.group(1)) for e in pf.iterdir() if (m := _VIRTFN.match(e.name)))
            try:
                n = int(want)
            except ValueError:
                continue
            if len(have) != n:
                self._remove(pf)
                if n > 0:
                    self._create(pf, n)

    def _remove(self, pf: Path) -> None:
        real = pf.resolve()
        for link in list(real.iterdir()):
            if not _VIRTFN.match(link.name):
                continue
            vf = (real / os.readlink(link)).resolve()
            link.unlink()
            entry = self.sys / "bus" / "pci" / "devices" / vf.name
            if entry.is_symlink():
                entry.unlink()
            shutil.rmtree(vf, ignore_errors=True)

    def _create(self, pf: Path, n: int) -> None:
        real = pf.resolve()
        offset = int(_read(real / "sriov_offset", "1") or 1)
        stride = int(_read(real / "sriov_stride", "1") or 1)
        vf_device = _read(real / "sriov_vf_device") or _read(real / "device", "0x0000")[2:]
        vendor = _read(real / "vendor", "0x0000")
        uevent = dict(line.split("=", 1) for line in _read(real / "uevent").splitlines() if "=" in line)
        driver = os.readlink(real / "driver") if (real / "driver").is_symlink() else None
        autoprobe = _read(real / "sriov_drivers_autoprobe", "1") == "1"
        for i in range(n):
            addr = vf_address(real.name, offset, stride, i)
            vf = real.parent / addr
            vf.mkdir(exist_ok=True)
            (vf / "vendor").write_text(vendor + "\n")
            (vf / "device").write_text(f"0x{vf_device.lower()}\n")
            (vf / "class").write_text(_read(real / "class", "0x020000") + "\n")
            (vf / "numa_node").write_text(_read(real / "numa_node", "-1") + "\n")
            props = dict(uevent)
            props["PCI_SLOT_NAME"] = addr
            props["PCI_ID"] = f"{vendor[2:].upper()}:{vf_device.upper()}"
            if "ID_MODEL_FROM_DATABASE" in props:
                props["ID_MODEL_FROM_DATABASE"] += " Virtual Function"
            if driver and autoprobe:
                props["DRIVER"] = os.path.basename(driver)
                os.symlink(driver, vf / "driver")
            else:
                props.pop("DRIVER", None)
            (vf / "uevent").write_text("".join(f"{k}={v}\n" for k, v in props.items()))
            if (real / "subsystem").is_symlink():
                os.symlink(os.readlink(real / "subsystem"), vf / "subsystem")
            os.symlink(f"../{real.name}", vf / "physfn")
            os.symlink(f"../{addr}", real / f"virtfn{i}")
            entry = self.sys / "bus" / "pci" / "devices" / addr
            if not entry.exists():
                os.symlink(os.path.relpath(vf, entry.parent), entry)

    # ------------------------------------------------------------------ in the background

    def start(self) -> SriovEmulator:
        self._thread = threading.Thread(target=self._run, name="demo-sriov", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sync()
            except OSError:
                pass  # the tree is going away (the demo is ending)

"""Helpers of the real-daemon tier (tests/real/): why it cannot run, guests, errors, stand-ins.

Imported by plain name (``from real_daemon import ...``), like the other modules of tests/support.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

import private_libvirtd as pl
from vfpool_tui.core import pci
from vfpool_tui.core.model import PF, VF, Host

try:
    import libvirt
except ImportError:  # pragma: no cover - libvirt-python is a dependency of the package
    libvirt = None


def _why_not() -> str | None:
    if libvirt is None:
        return "libvirt-python is not installed"
    try:
        pl.check_available()
    except pl.Unavailable as err:
        return str(err)
    return None


WHY_NOT = _why_not()


# a VF address that does not exist on any host: libvirt defines guests with it; starting one fails
# for real on a host without an IOMMU (code 67) -- and never touches a real device where there is one
NO_SUCH_VF = "0000:99:00.1"
NO_SUCH_VF_XML = "<address type='pci' domain='0x0000' bus='0x99' slot='0x00' function='0x1'/>"
HOSTDEV = (f"<hostdev mode='subsystem' type='pci' managed='yes'><source>{NO_SUCH_VF_XML}</source>"
           "</hostdev>")
# a hostdev pool without a PF: libvirt defines and starts it, with no VF in it
EMPTY_POOL = "<network><name>{name}</name><forward mode='hostdev' managed='yes'/></network>"


def wait_for(pred: Callable[[], object], timeout: float = 10.0, step: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step)
    return pred()


def error_of(fn: Callable[[], object]) -> tuple[int, int, str]:
    """(code, domain, message) of the libvirtError ``fn`` raises, as the daemon worded it."""
    with pytest.raises(libvirt.libvirtError) as info:
        fn()
    err = info.value
    return err.get_error_code(), err.get_error_domain(), err.get_error_message()


def running_guest(conn, name: str = "g1", network: str = "iso0", extra_devices: str = ""):
    """A tiny TCG guest on an isolated network, started; it ignores ACPI shutdown."""
    if network not in conn.listNetworks():
        if network not in conn.listDefinedNetworks():
            conn.networkDefineXML(pl.isolated_network_xml(network))
        conn.networkLookupByName(network).create()
    dom = conn.defineXML(pl.tiny_guest_xml(name, network=network, extra_devices=extra_devices))
    dom.create()
    return dom


def vf_host() -> Host:
    """STAND-IN for SR-IOV hardware: PF 0000:99:00.0 with VFs 0000:99:00.1 and .2 (not on this host)."""
    pf_pci = "0000:99:00.0"
    vfs = tuple(VF(index=i, pci=pci.vf_address(pf_pci, 1, 1, i), pf_pci=pf_pci, driver="vfio-pci",
                   netdev=None, iommu_group=50 + i, vendor_id="8086", device_id="10ed")
                for i in range(2))
    assert vfs[0].pci == NO_SUCH_VF
    pf = PF(pci=pf_pci, netdevs=("enp153s0f0",), driver="ixgbe", vendor_id="8086", device_id="10fb",
            vendor="Intel", model="82599ES", numa_node=0, totalvfs=8, numvfs=2, link="up", vfs=vfs,
            vf_offset=1, vf_stride=1)
    return Host(pfs=(pf,), pci_devices=frozenset({pf_pci, *(v.pci for v in vfs)}))

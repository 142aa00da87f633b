"""What the product generates defines on a real libvirtd 9.0 with the daemon's own validation:
the pool network XML of core/pools/create.py (VIR_NETWORK_DEFINE_VALIDATE) and the converted guest
XML of core/conversion/transform.py (VIR_DOMAIN_DEFINE_VALIDATE, through define_validated).

Stand-in: the SR-IOV host a pool is planned from is ``_scan_host.holders_host()`` (model dataclasses:
this machine has no SR-IOV NIC). The guests of tests/data/convert/ are real libvirt output from other
hosts; only what ties them to those hosts is adapted (emulator path, machine type, kvm -> qemu).
"""

from __future__ import annotations

import re

import libvirt
import pytest
from _scan_host import holders_host
from real_daemon import error_of
from paths import DATA

import private_libvirtd as pl
from vfpool_tui.core.conversion.transform import convert_domain, hardcoded_sources
from vfpool_tui.core.health.diagnose import StartError, classify_error
from vfpool_tui.core.model import Scan
from vfpool_tui.core.pools.create import StepStatus, execute, plan_pool
from vfpool_tui.core.virt.definitions import XML_INACTIVE_SECURE, define_validated

GUESTS = sorted(p.name for p in (DATA / "convert").glob("*.xml"))


@pytest.mark.parametrize("vlan,managed", [(None, True), (42, True), (None, False)])
def test_pool_xml_defines_with_validation(conn, vlan, managed):
    plan = plan_pool(Scan(host=holders_host()), "eth3", "vfpool-eth3", managed=managed, vlan=vlan, conn=conn)
    net = conn.networkDefineXMLFlags(plan.xml, libvirt.VIR_NETWORK_DEFINE_VALIDATE)
    back = net.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE)
    assert "<forward mode='hostdev'" in back and "<pf dev='eth3'/>" in back
    assert (f"<tag id='{vlan}'/>" in back) is (vlan is not None)
    net.undefine()


def test_pool_create_fails_for_real_without_the_pf_and_undoes_everything(conn):
    """The PF (eth3 of the model host) is not on the daemon's host: define and autostart work, start
    fails with libvirt's real text, and the undo leaves no network behind."""
    plan = plan_pool(Scan(host=holders_host()), "eth3", "vfpool-eth3", conn=conn)
    result = execute(conn, plan)
    assert not result.ok and result.failed_step == "start"
    assert result.error.endswith("internal error: No usable Vf's present on SRIOV PF eth3")
    undone = [e for e in result.events if e.undo]
    assert [e.status for e in undone] == [StepStatus.RUNNING, StepStatus.UNDONE]
    assert "vfpool-eth3" not in conn.listNetworks() + conn.listDefinedNetworks()
    assert result.left_behind == ()
    known = classify_error(result.error, libvirt.VIR_ERR_INTERNAL_ERROR)
    assert known is not None and known.kind is StartError.PF_NO_VFS and known.fields["pf"] == "eth3"


def _for_this_host(xml: str) -> str:
    """Only what ties a guest to its host: the emulator, the machine type, kvm (TCG here)."""
    xml = re.sub(r"<emulator>[^<]*</emulator>", f"<emulator>{pl.QEMU_BINARY}</emulator>", xml)
    xml = re.sub(r"machine='[^']*q35[^']*'", "machine='q35'", xml)
    xml = re.sub(r"machine='pc-i440fx[^']*'", "machine='pc'", xml)
    return re.sub(r"<domain type='kvm'", "<domain type='qemu'", xml, count=1)


@pytest.mark.parametrize("name", GUESTS)
def test_converted_guest_xml_defines_with_validation(conn, name):
    original = _for_this_host((DATA / "convert" / name).read_text())
    dom = conn.defineXMLFlags(original, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)  # every fixture is one libvirt accepts
    inactive = dom.XMLDesc(XML_INACTIVE_SECURE)  # as the engine reads it
    sources = hardcoded_sources(inactive)
    assert sources, "the guest hard-codes VFs"
    new = convert_domain(inactive, "pool0", sources).xml
    redefined = define_validated(conn, new)
    assert redefined.UUIDString() == dom.UUIDString()
    assert hardcoded_sources(redefined.XMLDesc(XML_INACTIVE_SECURE)) == ()
    assert "<source network='pool0'/>" in redefined.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    dom.undefine()


def test_validation_is_really_on(conn):
    """The daemon refuses what its schema refuses with the flag (so the tests above mean something)."""
    bad = pl.tiny_guest_xml("bad").replace("<vcpu>1</vcpu>", "<vcpu>1</vcpu><nonsense/>")
    code, _domain, msg = error_of(lambda: conn.defineXMLFlags(bad, libvirt.VIR_DOMAIN_DEFINE_VALIDATE))
    assert code == libvirt.VIR_ERR_XML_INVALID_SCHEMA, msg

"""libvirt 9.0's real error texts, made by the daemon (never typed in here), against
core/health/diagnose.py's ``classify_error``: every start failure the product explains must be
recognised from what libvirt really says, with its code.

Each case builds the situation on the private daemon and captures (code, message) from the failing
call, including no IOMMU (code 67), which diagnose.py did not know before issue 10.
"""

from __future__ import annotations

import libvirt
import pytest
from real_daemon import EMPTY_POOL, HOSTDEV, error_of

import private_libvirtd as pl
from vfpool_tui.core.health.diagnose import StartError, classify_error


def _start(conn, name: str, **kw):
    return error_of(conn.defineXML(pl.tiny_guest_xml(name, **kw)).create)


def pool_exhausted(conn):
    conn.networkDefineXML(EMPTY_POOL.format(name="pool0")).create()  # active, no VF in it
    return _start(conn, "g-exh", network="pool0")


def network_inactive(conn):
    conn.networkDefineXML(pl.isolated_network_xml("idle"))
    return _start(conn, "g-idle", network="idle")


def no_network(conn):
    return _start(conn, "g-nonet", network="nope")


def pool_pf_missing(conn):
    net = conn.networkDefineXML("<network><name>p1</name><forward mode='hostdev' managed='yes'>"
                                "<pf dev='enp99s0f0'/></forward></network>")
    return error_of(net.create)


def pool_pf_without_sriov(conn):  # eth0 exists in the daemon's netns: a veth, no SR-IOV
    net = conn.networkDefineXML("<network><name>p2</name><forward mode='hostdev' managed='yes'>"
                                "<pf dev='eth0'/></forward></network>")
    return error_of(net.create)


def no_iommu(conn):
    return _start(conn, "g-pt", extra_devices=HOSTDEV)


CASES = [
    pytest.param(pool_exhausted, libvirt.VIR_ERR_INTERNAL_ERROR,
                 "internal error: network 'pool0' requires exclusive access to interfaces, but none are available",
                 StartError.POOL_EXHAUSTED, {"network": "pool0"}, id="pool-exhausted"),
    pytest.param(network_inactive, libvirt.VIR_ERR_OPERATION_INVALID,
                 "Requested operation is not valid: network 'idle' is not active",
                 StartError.NETWORK_INACTIVE, {"network": "idle"}, id="network-inactive"),
    pytest.param(no_network, libvirt.VIR_ERR_NO_NETWORK,
                 "Network not found: no network with matching name 'nope'",
                 StartError.NO_NETWORK, {"network": "nope"}, id="no-network"),
    pytest.param(pool_pf_missing, libvirt.VIR_ERR_INTERNAL_ERROR,
                 "internal error: No usable Vf's present on SRIOV PF enp99s0f0",
                 StartError.PF_NO_VFS, {"pf": "enp99s0f0"}, id="pf-missing"),
    pytest.param(pool_pf_without_sriov, libvirt.VIR_ERR_INTERNAL_ERROR,
                 "internal error: No usable Vf's present on SRIOV PF eth0",
                 StartError.PF_NO_VFS, {"pf": "eth0"}, id="pf-without-sriov"),
    pytest.param(no_iommu, libvirt.VIR_ERR_CONFIG_UNSUPPORTED,
                 "unsupported configuration: host doesn't support passthrough of host PCI devices",
                 StartError.NO_IOMMU, {}, id="no-iommu"),
]


@pytest.mark.parametrize("make,code,text,kind,fields", CASES)
def test_real_error_text_is_recognised(conn, make, code, text, kind, fields):
    got_code, _domain, message = make(conn)
    assert (got_code, message) == (code, text)  # what libvirt 9.0 really says (also: LIBVIRT-FACTS.md)
    known = classify_error(message, got_code)
    assert known is not None, f"not recognised: code {got_code}, {message!r}"
    if kind is not None:
        assert known.kind is kind
    assert known.fields == {**known.fields, **fields}

"""Troubleshooting VF exhaustion: libvirt's error texts, the per-pool picture, and `why`/`capacity`.

The pure logic is tested on Scan records built from the model; the CLI end to end on the demo
(real pyudev/sysfs under umockdev, libvirt's test driver).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import libvirt
import pytest

from vfpool_tui.core.health.diagnose import (
    StartError,
    classify_error,
    diagnose_guest,
    pool_usage,
)
from vfpool_tui.core.model import PF, VF, Guest, Host, Pool, Scan, UseKind, VfUse

# libvirt's messages as virsh and the Python bindings show them (LIBVIRT-FACTS.md, virpci.c)
EXHAUSTED = ("internal error: network 'passthrough' requires exclusive access to interfaces, "
             "but none are available")
INACTIVE = "Requested operation is not valid: network 'passthrough' is not active"
NO_NETWORK = "Network not found: no network with matching name 'passthrough'"
NO_VFS = "internal error: No usable Vf's present on SRIOV PF eth3"
UNREADABLE = "internal error: Could not get Virtual functions on eth3"
IN_USE = ("Requested operation is not valid: PCI device 0000:03:10.5 is in use by driver QEMU, "
          "domain legacy app")


@pytest.mark.parametrize("message, code, kind, fields", [
    (EXHAUSTED, libvirt.VIR_ERR_INTERNAL_ERROR, StartError.POOL_EXHAUSTED, {"network": "passthrough"}),
    (INACTIVE, libvirt.VIR_ERR_OPERATION_INVALID, StartError.NETWORK_INACTIVE, {"network": "passthrough"}),
    (NO_NETWORK, libvirt.VIR_ERR_NO_NETWORK, StartError.NO_NETWORK, {"network": "passthrough"}),
    (NO_VFS, libvirt.VIR_ERR_INTERNAL_ERROR, StartError.PF_NO_VFS, {"pf": "eth3"}),
    (UNREADABLE, libvirt.VIR_ERR_INTERNAL_ERROR, StartError.PF_UNREADABLE, {"pf": "eth3"}),
    (IN_USE, libvirt.VIR_ERR_OPERATION_INVALID, StartError.PCI_IN_USE,
     {"pci": "0000:03:10.5", "driver": "QEMU", "guest": "legacy app"}),
])
def test_classify_libvirt_errors(message, code, kind, fields):
    for c in (code, None):  # with the error code, and from a pasted message alone
        got = classify_error(message, c)
        assert got is not None and got.kind is kind
        assert got.fields == fields


def test_classify_respects_the_error_code():
    # the same words under another error code are not this error
    assert classify_error(EXHAUSTED, libvirt.VIR_ERR_OPERATION_INVALID) is None
    assert classify_error("internal error: something else entirely") is None


PF_ADDR = "0000:03:00.0"
VFS = tuple(VF(i, f"0000:03:10.{2 * i}", PF_ADDR, "vfio-pci", None, 40 + i) for i in range(2))


def _guest(name: str, running: bool, *uses: VfUse) -> Guest:
    return Guest(name, f"uuid-{name}", "running" if running else "shut off", running, True, False, uses)


def _pool_use(guest: str, running: bool, pci: str | None = None) -> VfUse:
    return VfUse(guest, f"uuid-{guest}", UseKind.POOL, pci, running, network="passthrough")


def full_pool_scan() -> Scan:
    """A 2-VF pool on eth3 (2 of 8 VFs enabled): a and b hold its VFs, c waits shut off."""
    pf = PF(PF_ADDR, ("eth3",), "ixgbe", "8086", "10fb", "Intel", "82599", 0, 8, 2, "up", VFS, 128, 2)
    guests = (
        _guest("a", True, _pool_use("a", True, VFS[0].pci)),
        _guest("b", True, _pool_use("b", True)),  # its VF not known
        _guest("c", False, _pool_use("c", False)),
    )
    pool = Pool("passthrough", "u", ("eth3",), (), True, True, True, True, capacity=2, in_use=2, free=0,
                vf_pcis=tuple(v.pci for v in VFS))
    return Scan(Host((pf,), frozenset({PF_ADDR, *(v.pci for v in VFS)})), guests, (pool,))


def test_pool_usage_of_a_full_pool():
    usage = pool_usage(full_pool_scan(), "passthrough")
    assert [u.guest for u in usage.holders] == ["a", "b"]
    assert [g.name for g in usage.waiting] == ["c"]
    assert usage.shortfall == 1
    assert (usage.pf_numvfs, usage.pf_totalvfs, usage.headroom) == (2, 8, 6)
    assert pool_usage(full_pool_scan(), "nope") is None


def test_why_a_waiting_guest_cannot_start():
    findings = diagnose_guest(full_pool_scan(), "c")
    assert findings[0].severity == "error"
    assert findings[0].summary == "Pool passthrough has no free VF: 2 of 2 in use."
    assert findings[0].guests == ("a", "b")
    assert any("2 of 8 VFs enabled" in a for a in findings[0].actions)


def test_why_with_libvirts_error():
    findings = diagnose_guest(full_pool_scan(), "c", error=EXHAUSTED, code=libvirt.VIR_ERR_INTERNAL_ERROR)
    assert findings[0].summary.startswith("libvirt found no free VF in pool passthrough")
    # the state says the same: not repeated as a second finding
    assert sum("no free VF" in f.summary for f in findings) == 1


def test_why_a_hardcoded_vf_held_by_another_guest():
    hard = lambda g, run: VfUse(g, f"uuid-{g}", UseKind.HOSTDEV, VFS[1].pci, run)  # noqa: E731
    scan = Scan(full_pool_scan().host, (_guest("x", True, hard("x", True)), _guest("y", False, hard("y", False))))
    f = diagnose_guest(scan, "y")
    assert f[0].severity == "error" and f[0].summary == f"VF {VFS[1].pci} is in use by x."


needs_umockdev = pytest.mark.skipif(shutil.which("umockdev-run") is None, reason="umockdev-run not installed")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vfpool_tui", *args], capture_output=True, text=True,
                          timeout=60, check=False)


@needs_umockdev
@pytest.mark.umockdev
def test_capacity_cli_on_the_demo():
    res = _cli("capacity", "--demo", "--json")
    assert res.returncode == 0, res.stderr
    pools = {p["name"]: p for p in json.loads(res.stdout)["pools"]}
    b = pools["sriov-pool-b"]
    assert (b["capacity"], b["in_use"], b["free"]) == (8, 7, 1)
    assert b["waiting"] == ["app-08", "app-09"] and b["shortfall"] == 1
    assert [h["guest"] for h in b["holders"]] == [f"app-0{i}" for i in range(1, 8)]
    assert pools["sriov-pool-a"]["hardcoded_in_pool"] == [{"guest": "ci-runner-01", "pci": "0000:03:11.0"}]
    assert pools["sriov-pool-gone"]["active"] is False


@needs_umockdev
@pytest.mark.umockdev
def test_why_cli_on_the_demo_with_a_non_ascii_name():
    res = _cli("why", "--demo", "db-ünïcode", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["guest"] == "db-ünïcode"
    assert out["findings"][0]["pcis"] == ["0000:03:11.0"]  # the pool VF ci-runner-01 hard-codes
    res = _cli("why", "--demo", "no-such-guest")
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "no guest named" in res.stderr


def test_a_reported_exhaustion_while_the_pool_has_a_free_vf_says_why_that_can_be():
    import dataclasses

    scan = full_pool_scan()
    pool = dataclasses.replace(scan.pools[0], capacity=3, free=1, blocked=1)
    scan = dataclasses.replace(scan, pools=(pool,))
    first = diagnose_guest(scan, "c", error=EXHAUSTED)[0]
    assert first.summary == ("libvirt found no free VF in pool passthrough "
                             "(now: 2 of 3 in use, 1 free).")
    assert first.actions[0].startswith("The pool has a free VF now")
    assert "1 pool VF hard-coded in running guests" in first.actions[0]


def test_an_inactive_pool_has_no_shortfall_figure():
    import dataclasses

    scan = full_pool_scan()
    scan = dataclasses.replace(scan, pools=(dataclasses.replace(scan.pools[0], active=False),))
    usage = pool_usage(scan, "passthrough")
    assert usage.waiting and usage.shortfall is None
    assert diagnose_guest(scan, "c")[0].summary == "Pool passthrough is not active."


# --------------------------------------------------------------------------- real libvirt 9.0 texts
# Captured from a real libvirtd 9.0 + QEMU 7.2 (the tests/real tier re-captures them from the daemon):
# net-start of a pool over a missing PF, over a NIC without SR-IOV, and over a PF with 0 VFs all say
# the same; a host without an IOMMU refuses any PCI passthrough with code 67.
NO_IOMMU = "unsupported configuration: host doesn't support passthrough of host PCI devices"


def _scan_with_pool_on(dev: str, netdevs: frozenset[str] | None, pf: PF | None = None) -> Scan:
    pool = Pool("passthrough", "u", (dev,), (), False, True, True, True, capacity=None, in_use=0, free=None)
    host = Host((pf,) if pf else (), frozenset(), netdevs=netdevs)
    return Scan(host, (_guest("c", False, _pool_use("c", False)),), (pool,))


@pytest.mark.parametrize("dev, netdevs, pf, says", [
    ("enp99s0f0", frozenset({"eth0", "lo"}), None, "PF enp99s0f0 is not on this host"),
    ("eth0", frozenset({"eth0", "lo"}), None, "eth0 is a network interface without SR-IOV"),
    ("eth3", frozenset({"eth3"}), PF(PF_ADDR, ("eth3",), "ixgbe", "8086", "10fb", "Intel", "82599", 0, 8, 0,
                                     "up", (), 128, 2), "PF eth3 has no VFs enabled"),
])
def test_no_usable_vfs_is_told_apart_by_the_host_scan(dev, netdevs, pf, says):
    scan = _scan_with_pool_on(dev, netdevs, pf)
    message = f"internal error: No usable Vf's present on SRIOV PF {dev}"
    findings = diagnose_guest(scan, "c", error=message, code=libvirt.VIR_ERR_INTERNAL_ERROR)
    assert findings[0].summary.startswith(says), findings[0].summary
    assert "enable VFs" not in " ".join(findings[0].actions).lower() or "no VFs enabled" in says
    # the same from the state alone (the pool is inactive: starting it fails too)
    state_only = diagnose_guest(scan, "c")
    assert any(says.split(" is ")[0] in f.detail and "No usable Vf's" in f.detail for f in state_only)


def test_no_iommu_is_recognised_with_its_remedy():
    got = classify_error(NO_IOMMU, libvirt.VIR_ERR_CONFIG_UNSUPPORTED)
    assert got is not None and got.kind is StartError.NO_IOMMU
    assert classify_error(NO_IOMMU, libvirt.VIR_ERR_INTERNAL_ERROR) is None  # code narrows it
    findings = diagnose_guest(full_pool_scan(), "c", error=NO_IOMMU, code=libvirt.VIR_ERR_CONFIG_UNSUPPORTED)
    assert "without an IOMMU" in findings[0].summary
    assert any("intel_iommu=on" in a for a in findings[0].actions)
    assert any("VT-d" in a and "AMD-Vi" in a for a in findings[0].actions)


def test_why_names_a_missing_network_instead_of_saying_no_vf():
    g = Guest("lost", "uuid-lost", "shut off", False, True, True, (), missing_networks=("passthrough-old",))
    scan = Scan(Host(), (g,), ())
    findings = diagnose_guest(scan, "lost")
    assert findings[0].severity == "error"
    assert findings[0].summary == "lost has an interface on network passthrough-old, which does not exist."
    assert "no network with matching name 'passthrough-old'" in findings[0].detail
    assert not any("uses no VF" in f.summary for f in findings)


# ------------------------------------------------------------------ advice the converter carries out

PF2_ADDR = "0000:86:00.0"
VFS2 = tuple(VF(i, f"0000:86:00.{2 + i}", PF2_ADDR, "vfio-pci", None, 50 + i) for i in range(2))


def two_pf_scan() -> Scan:
    """A pool on eth3; ``router`` hard-codes one of its VFs and a VF of another PF (mlx0),
    ``web`` only the pool's VF; both run. The converter moves all of a guest's hard-coded VFs and
    refuses another PF than the pool's unless allowed."""
    pf1 = PF(PF_ADDR, ("eth3",), "ixgbe", "8086", "10fb", "Intel", "82599", 0, 8, 2, "up", VFS, 128, 2)
    pf2 = PF(PF2_ADDR, ("mlx0",), "mlx5_core", "15b3", "1017", "Mellanox", "CX5", 0, 8, 2, "up", VFS2, 2, 1)
    hard = lambda g, pci: VfUse(g, f"uuid-{g}", UseKind.HOSTDEV, pci, True)  # noqa: E731
    guests = (
        _guest("router", True, hard("router", VFS[0].pci), hard("router", VFS2[0].pci)),
        _guest("web", True, hard("web", VFS[1].pci)),
        _guest("c", False, _pool_use("c", False)),
    )
    pool = Pool("passthrough", "u", ("eth3",), (), True, True, True, True, capacity=2, in_use=0, free=0,
                vf_pcis=tuple(v.pci for v in VFS), blocked=2)
    host = Host((pf1, pf2), frozenset({PF_ADDR, PF2_ADDR, *(v.pci for v in VFS + VFS2)}))
    return Scan(host, guests, (pool,))


def test_advice_never_names_a_conversion_the_converter_refuses():
    from vfpool_tui.core.health.convert_advice import conversion_refusal, convert_actions

    scan = two_pf_scan()
    pool = scan.pools[0]
    by = {g.name: g for g in scan.guests}
    assert conversion_refusal(scan, by["web"], pool) is None
    why = conversion_refusal(scan, by["router"], pool)
    assert why.startswith("router also hard-codes 0000:86:00.2 (PF mlx0), on another PF than pool passthrough")
    actions = convert_actions(scan, ["router", "web"], pool)
    assert actions[0] == "Convert web to passthrough (vfpool-tui convert --network passthrough web)."
    assert actions[1].startswith("Not converted as it is: router also hard-codes")
    assert not any(a.startswith("Convert router") for a in actions)
    # what the troubleshoot view shows for the waiting guest says the same
    found = diagnose_guest(scan, "c")
    said = [a for f in found for a in f.actions]
    assert any(a.startswith("Convert web to passthrough") for a in said)
    assert not any("Convert router" in a or "Convert router, web" in a for a in said)


def test_whose_error_it_can_be():
    from vfpool_tui.core.health.diagnose import error_guests

    hard = lambda g, run: VfUse(g, f"uuid-{g}", UseKind.HOSTDEV, VFS[1].pci, run)  # noqa: E731
    scan = Scan(full_pool_scan().host, (_guest("x", True, hard("x", True)), _guest("y", False, hard("y", False)),
                                         _guest("z", False)), full_pool_scan().pools)
    in_use = classify_error(f"PCI device {VFS[1].pci} is in use by driver QEMU, domain x")
    assert error_guests(scan, in_use) == ("y",)  # x holds it: the failed start is y's
    assert error_guests(full_pool_scan(), classify_error(EXHAUSTED)) == ("a", "b", "c")
    assert error_guests(scan, classify_error(
        "unsupported configuration: host doesn't support passthrough of host PCI devices", 67)) is None
    f = diagnose_guest(scan, "z", error=f"PCI device {VFS[1].pci} is in use by driver QEMU, domain x")
    assert f[0].summary == f"libvirt's error is not about z: it names VF {VFS[1].pci}, which z does not use; not applied."

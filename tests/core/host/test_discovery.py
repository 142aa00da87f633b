"""Host discovery, netlink VF settings and the udev watcher, on fake hardware from umockdev.

The umockdev tests run the real pyudev + sysfs code in a subprocess under ``umockdev-run`` with
a device description from ``tests/data/hosts/`` and compare what it finds with the description.
"""

from __future__ import annotations

import json
import struct

import pytest
from paths import SUPPORT
from umockdev_run import (  # noqa: E402
    HOSTS,
    UMOCKDEV_RUN,
    UMOCKDEV_WRAPPER,
    discover_in_testbed,
    run_with_testbed_api,
    umockdev_gi_available,
)

from vfpool_tui.core import pci  # noqa: E402
from vfpool_tui.core.host.discovery import discover_host, is_representor_port_name  # noqa: E402
from vfpool_tui.core.host.netlink import VfAdmin, parse_link_messages, vf_admin_by_link, vf_admin_info  # noqa: E402

needs_umockdev = pytest.mark.skipif(UMOCKDEV_RUN is None, reason="umockdev-run is not installed (apt: umockdev)")


def _pf(host: dict, address: str) -> dict:
    matches = [p for p in host["pfs"] if p["pci"] == address]
    assert len(matches) == 1, f"PF {address} not found in {[p['pci'] for p in host['pfs']]}"
    return matches[0]


def _check_vf_addresses(pf: dict) -> None:
    """Every VF sits where the SR-IOV routing-ID arithmetic puts it, in index order."""
    assert [v["index"] for v in pf["vfs"]] == list(range(len(pf["vfs"])))
    for vf in pf["vfs"]:
        assert vf["pci"] == pci.vf_address(pf["pci"], pf["vf_offset"], pf["vf_stride"], vf["index"])
        assert vf["pf_pci"] == pf["pci"]


# ----------------------------------------------------------------------------- umockdev hosts


@pytest.fixture(scope="module")
def ixgbe() -> dict:
    if UMOCKDEV_RUN is None:
        pytest.skip("umockdev-run is not installed (apt: umockdev)")
    return discover_in_testbed(HOSTS / "intel-82599.umockdev")


@pytest.mark.umockdev
@needs_umockdev
class TestIntel82599:
    def test_two_pfs_sorted_with_identity(self, ixgbe):
        assert [p["pci"] for p in ixgbe["pfs"]] == ["0000:03:00.0", "0000:03:00.1"]
        pf0 = _pf(ixgbe, "0000:03:00.0")
        assert pf0["netdevs"] == ["enp3s0f0"]
        assert pf0["driver"] == "ixgbe"
        assert (pf0["vendor_id"], pf0["device_id"]) == ("8086", "10fb")
        assert pf0["vendor"] == "Intel Corporation"
        assert pf0["model"] == "82599ES 10-Gigabit SFI/SFP+ Network Connection"
        assert pf0["numa_node"] == 0
        assert (pf0["totalvfs"], pf0["numvfs"]) == (63, 4)
        assert (pf0["vf_offset"], pf0["vf_stride"]) == (128, 2)
        assert pf0["link"] == "up"
        assert pf0["representors"] == [] and pf0["eswitch_mode"] is None
        pf1 = _pf(ixgbe, "0000:03:00.1")
        assert pf1["netdevs"] == ["enp3s0f1"]
        assert pf1["link"] == "down"
        assert (pf1["totalvfs"], pf1["numvfs"]) == (63, 12)
        assert ixgbe["errors"] == []
        assert ixgbe["_stderr"] == ""

    def test_vfs_port0(self, ixgbe):
        pf0 = _pf(ixgbe, "0000:03:00.0")
        _check_vf_addresses(pf0)
        assert [v["pci"] for v in pf0["vfs"]] == ["0000:03:10.0", "0000:03:10.2", "0000:03:10.4", "0000:03:10.6"]
        assert [v["driver"] for v in pf0["vfs"]] == ["vfio-pci", "vfio-pci", "ixgbevf", None]
        assert [v["netdev"] for v in pf0["vfs"]] == [None, None, "enp3s16f4", None]
        assert [v["iommu_group"] for v in pf0["vfs"]] == [40, 41, 42, 43]
        assert {(v["vendor_id"], v["device_id"]) for v in pf0["vfs"]} == {("8086", "10ed")}
        # netlink was not asked: the admin settings are unknown
        assert {(v["mac"], v["vlan"], v["spoofchk"], v["trust"]) for v in pf0["vfs"]} == {(None, None, None, None)}

    def test_vfs_port1_numeric_order(self, ixgbe):
        pf1 = _pf(ixgbe, "0000:03:00.1")
        _check_vf_addresses(pf1)
        assert len(pf1["vfs"]) == 12
        # virtfn10 and virtfn11 come after virtfn9, not after virtfn1
        assert [v["pci"] for v in pf1["vfs"][8:]] == ["0000:03:12.1", "0000:03:12.3", "0000:03:12.5", "0000:03:12.7"]
        assert pf1["vfs"][10]["driver"] == "ixgbevf" and pf1["vfs"][10]["netdev"] == "enp3s18f5"
        assert [v["iommu_group"] for v in pf1["vfs"]] == list(range(50, 62))

    def test_pci_devices(self, ixgbe):
        vfs = [v["pci"] for p in ixgbe["pfs"] for v in p["vfs"]]
        assert len(vfs) == 16
        assert set(ixgbe["pci_devices"]) == {"0000:00:03.0", "0000:03:00.0", "0000:03:00.1", *vfs}

    def test_with_netlink_is_harmless_in_testbed(self):
        # the netdevs exist only in the testbed: rtnetlink says "no such device" -> unknown, no error
        host = discover_in_testbed(HOSTS / "intel-82599.umockdev", netlink=True)
        assert host["errors"] == []
        pf0 = _pf(host, "0000:03:00.0")
        assert [v["mac"] for v in pf0["vfs"]] == [None] * 4
        assert [v["pci"] for v in pf0["vfs"]] == ["0000:03:10.0", "0000:03:10.2", "0000:03:10.4", "0000:03:10.6"]


@pytest.mark.umockdev
@needs_umockdev
def test_intel_x710():
    host = discover_in_testbed(HOSTS / "intel-x710.umockdev")
    assert host["errors"] == []
    assert [p["pci"] for p in host["pfs"]] == ["0000:3b:00.0", "0000:3b:00.1"]
    pf0, pf1 = host["pfs"]
    assert (pf0["vendor_id"], pf0["device_id"], pf0["driver"]) == ("8086", "1572", "i40e")
    assert pf0["model"] == "Ethernet Controller X710 for 10GbE SFP+"
    assert pf0["netdevs"] == ["ens1f0"] and pf1["netdevs"] == ["ens1f1"]
    assert pf0["numa_node"] == 1 and pf1["numa_node"] == 1
    assert (pf0["totalvfs"], pf0["numvfs"], pf0["vf_offset"], pf0["vf_stride"]) == (64, 4, 16, 1)
    assert (pf1["totalvfs"], pf1["numvfs"], pf1["vf_offset"], pf1["vf_stride"]) == (64, 2, 79, 1)
    _check_vf_addresses(pf0)
    _check_vf_addresses(pf1)
    assert [v["pci"] for v in pf0["vfs"]] == ["0000:3b:02.0", "0000:3b:02.1", "0000:3b:02.2", "0000:3b:02.3"]
    assert [v["pci"] for v in pf1["vfs"]] == ["0000:3b:0a.0", "0000:3b:0a.1"]
    assert [(v["driver"], v["netdev"]) for v in pf0["vfs"]] == [
        ("iavf", "ens1f0v0"),
        ("iavf", "ens1f0v1"),
        ("vfio-pci", None),
        ("vfio-pci", None),
    ]
    assert {(v["vendor_id"], v["device_id"]) for v in pf0["vfs"] + pf1["vfs"]} == {("8086", "154c")}
    assert [v["iommu_group"] for v in pf1["vfs"]] == [120, 121]
    assert pf1["link"] == "down"


@pytest.mark.umockdev
@needs_umockdev
def test_mlx5_switchdev_representors_are_not_pfs():
    host = discover_in_testbed(HOSTS / "mlx5-switchdev.umockdev")
    assert host["errors"] == []
    assert [p["pci"] for p in host["pfs"]] == ["0000:5e:00.0", "0000:5e:00.1"]
    pf0, pf1 = host["pfs"]
    assert (pf0["vendor"], pf0["model"]) == ("Mellanox Technologies", "MT27800 Family [ConnectX-5]")
    assert (pf0["vendor_id"], pf0["device_id"], pf0["driver"]) == ("15b3", "1017", "mlx5_core")
    # the uplink (phys_port_name p0) is the PF's netdev; the pf0vfN ports are representors
    assert pf0["netdevs"] == ["enp94s0f0np0"]
    assert pf0["representors"] == [f"enp94s0f0npf0vf{i}" for i in range(4)]
    assert pf0["eswitch_mode"] == "switchdev"
    assert pf0["link"] == "up"
    assert pf1["netdevs"] == ["enp94s0f1np1"] and pf1["representors"] == [] and pf1["vfs"] == []
    assert (pf1["totalvfs"], pf1["numvfs"]) == (8, 0)
    _check_vf_addresses(pf0)
    assert [v["pci"] for v in pf0["vfs"]] == ["0000:5e:00.2", "0000:5e:00.3", "0000:5e:00.4", "0000:5e:00.5"]
    assert [(v["driver"], v["netdev"]) for v in pf0["vfs"]] == [
        ("mlx5_core", "enp94s0f0v0"),
        ("mlx5_core", "enp94s0f0v1"),
        ("vfio-pci", None),
        ("vfio-pci", None),
    ]
    assert {(v["vendor_id"], v["device_id"]) for v in pf0["vfs"]} == {("15b3", "1018")}
    all_netdevs = {n for p in host["pfs"] for n in p["netdevs"]}
    assert not all_netdevs & set(pf0["representors"])
    assert set(host["pci_devices"]) == {
        "0000:5d:00.0",
        "0000:5e:00.0",
        "0000:5e:00.1",
        "0000:5e:00.2",
        "0000:5e:00.3",
        "0000:5e:00.4",
        "0000:5e:00.5",
    }


@pytest.mark.umockdev
@needs_umockdev
def test_vfs_disabled_pf_is_listed_without_vfs():
    host = discover_in_testbed(HOSTS / "vfs-disabled.umockdev")
    assert host["errors"] == []
    assert len(host["pfs"]) == 1
    pf = host["pfs"][0]
    assert pf["pci"] == "0000:02:00.0"
    assert (pf["vendor_id"], pf["device_id"], pf["driver"]) == ("8086", "1521", "igb")
    assert pf["netdevs"] == ["eno1"]
    assert (pf["totalvfs"], pf["numvfs"], pf["vfs"]) == (7, 0, [])
    assert (pf["vf_offset"], pf["vf_stride"]) == (384, 4)
    assert set(host["pci_devices"]) == {"0000:00:01.0", "0000:02:00.0"}


@pytest.mark.umockdev
@needs_umockdev
def test_plain_nic_gpu_nvme_are_not_pfs():
    host = discover_in_testbed(HOSTS / "plain-nic.umockdev")
    assert host["pfs"] == []
    assert host["errors"] == []
    # present (so a GPU hostdev is "not a VF", not "missing"), but none of them is a PF
    assert set(host["pci_devices"]) == {
        "0000:00:01.0",
        "0000:00:1c.0",
        "0000:00:1d.0",
        "0000:01:00.0",  # Tesla T4 on vfio-pci
        "0000:05:00.0",  # I210
        "0000:06:00.0",  # NVMe
    }
    # every device that is not a NIC VF has its hwdb name (other PCI passthrough is shown by it)
    names = dict(host["pci_names"])
    assert names["0000:01:00.0"] == "NVIDIA Corporation TU104GL [Tesla T4]"
    assert names["0000:06:00.0"] == "Samsung Electronics Co Ltd NVMe SSD Controller SM981/PM981/PM983"
    assert set(names) == set(host["pci_devices"])


@pytest.mark.umockdev
@needs_umockdev
def test_sriov_gpu_is_not_a_nic_pf():
    # an A100 has sriov_totalvfs and virtfnN links like a NIC; its PCI class (0x0302) says it is not one
    host = discover_in_testbed(HOSTS / "gpu-sriov.umockdev")
    assert host["pfs"] == []
    assert host["errors"] == []
    assert {"0000:41:00.0", "0000:41:00.4", "0000:41:00.5"} <= set(host["pci_devices"])
    assert dict(host["pci_names"])["0000:41:00.0"] == "NVIDIA Corporation GA100 [A100 PCIe 40GB]"


@pytest.mark.umockdev
@needs_umockdev
def test_hwdb_names_for_all_but_nic_vfs(ixgbe):
    # a NIC VF is named after its PF ("VF 2 of enp3s0f0"): discovery does not ask udev of each of
    # them (on a host with 1,000 VFs that was most of the discovery); the PFs and the rest keep theirs
    names = dict(ixgbe["pci_names"])
    vfs = {vf["pci"] for pf in ixgbe["pfs"] for vf in pf["vfs"]}
    assert vfs and not vfs & set(names)
    assert names["0000:03:00.0"] == "Intel Corporation 82599ES 10-Gigabit SFI/SFP+ Network Connection"
    assert set(names) == set(ixgbe["pci_devices"]) - vfs


@pytest.mark.umockdev
@needs_umockdev
def test_vf_ids_come_from_the_pf_when_it_states_them(tmp_path, ixgbe):
    # The kernel gives every VF its PF's vendor id and the VF device id of the SR-IOV capability,
    # which it shows as the PF's sriov_vf_device: discovery reads that once, not two files a VF.
    # Shown by VFs whose own vendor/device files are gone from this copy of the 82599 host: their
    # ids are still known, and nothing is reported missing. (The garbage host, without
    # sriov_vf_device, checks the other way: each VF's own files, with their errors.)
    lines = (HOSTS / "intel-82599.umockdev").read_text().splitlines()
    out, in_vf = [], False
    for line in lines:
        if line.startswith("P: "):
            in_vf = line.rsplit("/", 1)[-1] not in ("0000:03:00.0", "0000:03:00.1") and "/net/" not in line
        if in_vf and line.startswith(("A: vendor=", "A: device=")):
            continue
        out.append(line)
    bed = tmp_path / "no-vf-ids.umockdev"
    bed.write_text("\n".join(out) + "\n")
    assert "A: device=0x10ed" not in bed.read_text()  # the copy really has no VF id files
    host = discover_in_testbed(bed)
    vfs = [vf for pf in host["pfs"] for vf in pf["vfs"]]
    assert [v["pci"] for v in vfs] == [v["pci"] for pf in ixgbe["pfs"] for v in pf["vfs"]]
    assert {(v["vendor_id"], v["device_id"]) for v in vfs} == {("8086", "10ed")}
    assert not [e for e in host["errors"] if "vendor" in e or "device" in e]


@pytest.mark.umockdev
@needs_umockdev
def test_garbage_values_become_unknown_with_error_lines():
    host = discover_in_testbed(HOSTS / "garbage.umockdev")
    assert host["_stderr"] == ""  # no traceback, no warning spew
    assert len(host["pfs"]) == 1
    pf = host["pfs"][0]
    assert pf["pci"] == "0000:04:00.0"
    assert (pf["totalvfs"], pf["numvfs"]) == (0, 0)
    assert pf["numa_node"] is None
    assert (pf["vf_offset"], pf["vf_stride"]) == (128, None)
    # no hwdb names: the numeric ids stand in
    assert (pf["vendor"], pf["model"]) == ("8086", "10fb")
    assert pf["netdevs"] == ["enp4s0f0"]
    # virtfn0: present, with an unreadable vendor id and iommu group; virtfn1: its device is gone;
    # virtfn2: not a PCI address, dropped
    assert [v["pci"] for v in pf["vfs"]] == ["0000:04:10.0", "0000:04:10.2"]
    vf0, vf1 = pf["vfs"]
    assert (vf0["driver"], vf0["iommu_group"], vf0["vendor_id"], vf0["device_id"]) == ("vfio-pci", None, None, "10ed")
    assert (vf1["driver"], vf1["iommu_group"], vf1["netdev"]) == (None, None, None)
    errors = host["errors"]
    expected = [
        "PF 0000:04:00.0 sriov_totalvfs: 'banana' is not a number",
        "PF 0000:04:00.0 sriov_numvfs: -3 is negative",
        "PF 0000:04:00.0 sriov_stride: 'two' is not a number",
        "PF 0000:04:00.0 numa_node: 'north' is not a number",
        "VF 0000:04:10.0: iommu_group 'abc' is not a number",
        "VF 0000:04:10.0 vendor: '0xZZZZ' is not a PCI id",
        "PF 0000:04:00.0: VF 1 (0000:04:10.2) is listed but its device is gone",
        "PF 0000:04:00.0: virtfn2 points at 'not-an-address', which is not a PCI address",
    ]
    assert sorted(errors) == sorted(expected)
    assert set(host["pci_devices"]) == {"0000:04:00.0", "0000:04:10.0"}


# ----------------------------------------------------------------------------- udev watcher


@pytest.mark.umockdev
@pytest.mark.skipif(UMOCKDEV_WRAPPER is None, reason="umockdev-wrapper is not installed (apt: umockdev)")
def test_udev_watcher_reports_real_uevents():
    if not umockdev_gi_available():
        pytest.skip("gi with the UMockdev typelib is missing (apt: python3-gi gir1.2-umockdev-1.0)")
    proc = run_with_testbed_api(SUPPORT / "umockdev_run.py", "watch")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["changes"] == [
        {"action": "add", "subsystem": "pci", "sys_name": "0000:03:11.0", "pci": "0000:03:11.0", "kind": "vf", "pf_pci": "0000:03:00.0"},
        {"action": "change", "subsystem": "pci", "sys_name": "0000:03:00.0", "pci": "0000:03:00.0", "kind": "pf", "pf_pci": None},
        {"action": "remove", "subsystem": "net", "sys_name": "enp3s16f4", "pci": "0000:03:10.4", "kind": "netdev", "pf_pci": None},
        {"action": "bind", "subsystem": "pci", "sys_name": "0000:03:10.6", "pci": "0000:03:10.6", "kind": "vf", "pf_pci": "0000:03:00.0"},
        {"action": "remove", "subsystem": "pci", "sys_name": "0000:03:10.0", "pci": "0000:03:10.0", "kind": "pci", "pf_pci": None},
    ]
    assert out["tap_change"] is None  # a virtual netdev is not an SR-IOV change
    assert out["running"] is False
    assert out["stop_seconds"] < 2.0


# ----------------------------------------------------------------------------- no testbed


def test_discover_real_host_never_raises():
    host = discover_host(with_netlink=False)
    assert isinstance(host.errors, tuple)
    assert all(pci.is_address(a) for a in host.pci_devices)
    assert [p.pci for p in host.pfs] == sorted(p.pci for p in host.pfs)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("pf0vf1", True), ("pf1vf12", True), ("c1pf0vf2", True), ("pf0sf3", True), ("pf0", True),
     ("p0", False), ("p1", False), (None, False), ("", False)],
)
def test_representor_port_names(name, expected):
    assert is_representor_port_name(name) is expected


def _ifinfmsg_with_vfs() -> object:
    """A real RTM_NEWLINK message, encoded to wire bytes and decoded back by pyroute2."""
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    def vf(i: int, mac: str, vlan: int, spoof: int, trust: int) -> dict:
        return {
            "attrs": [
                ["IFLA_VF_MAC", {"vf": i, "mac": mac}],
                ["IFLA_VF_VLAN", {"vf": i, "vlan": vlan, "qos": 0}],
                ["IFLA_VF_SPOOFCHK", {"vf": i, "spoofchk": spoof}],
                ["IFLA_VF_TRUST", {"vf": i, "trust": trust}],
            ]
        }

    msg = ifinfmsg()
    msg["family"] = 0
    msg["index"] = 7
    msg["attrs"] = [
        ["IFLA_IFNAME", "enp3s0f0"],
        [
            "IFLA_VFINFO_LIST",
            {
                "attrs": [
                    ["IFLA_VF_INFO", vf(0, "52:54:00:AA:BB:01", 100, 1, 0)],
                    ["IFLA_VF_INFO", vf(1, "00:00:00:00:00:00", 0, 0, 1)],
                    ["IFLA_VF_INFO", vf(2, "52:54:00:aa:bb:03", 0, 0xFFFFFFFF, 0xFFFFFFFF)],
                ]
            },
        ],
    ]
    msg["header"]["type"] = 16  # RTM_NEWLINK
    msg.encode()
    return msg


def test_parse_vfinfo_from_wire_message():
    """pyroute2 (a test dependency only) encodes a real RTM_NEWLINK message; our own lean parser
    reads the wire bytes, as it reads the kernel's dump."""
    links, done = parse_link_messages(bytes(_ifinfmsg_with_vfs().data))
    assert not done and list(links) == ["enp3s0f0"]
    info = links["enp3s0f0"]
    assert info == {
        0: VfAdmin(index=0, mac="52:54:00:aa:bb:01", vlan=100, qos=0, spoofchk=True, trust=False),
        1: VfAdmin(index=1, mac=None, vlan=0, qos=0, spoofchk=False, trust=True),
        # (u32)-1 is the kernel's "driver did not say"
        2: VfAdmin(index=2, mac="52:54:00:aa:bb:03", vlan=0, qos=0, spoofchk=None, trust=None),
    }


def test_vf_admin_info_unknown_is_empty():
    assert vf_admin_info("vfpool-nonexistent0") == {}  # no such link in the real kernel's dump
    assert vf_admin_info("lo") == {}  # a real link without VFs
    assert vf_admin_info("") == {}


def test_the_real_kernel_answers_the_dump_and_ends_it():
    """One RTM_GETLINK dump against this machine's kernel: it ends (NLMSG_DONE) and lists no VF
    for links that have none (this machine has no SR-IOV NIC)."""
    import time

    t = time.perf_counter()
    links = vf_admin_by_link(timeout=5)
    assert time.perf_counter() - t < 5
    assert "lo" not in links and all(vfs for vfs in links.values())


def test_truncated_and_malformed_messages_are_read_as_far_as_they_go():
    wire = bytes(_ifinfmsg_with_vfs().data)
    assert parse_link_messages(wire[:-7]) == ({}, True)  # a cut message: nothing made up
    done = struct.pack("=IHHII", 20, 3, 2, 1, 0) + b"\0" * 4  # NLMSG_DONE
    links, finished = parse_link_messages(wire + done)
    assert finished and set(links["enp3s0f0"]) == {0, 1, 2}


def test_a_scan_imports_no_netlink_library():
    """pyroute2's import alone cost more than the dump (issue 14): the scan reads rtnetlink with
    the standard library."""
    import subprocess
    import sys

    code = ("import sys\nfrom vfpool_tui.core.host.netlink import vf_admin_by_link\n"
            "from vfpool_tui.core.host.discovery import discover_host\n"
            "vf_admin_by_link(); discover_host()\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pyroute2'))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"

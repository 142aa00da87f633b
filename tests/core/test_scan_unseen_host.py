"""Acceptance data nobody wrote the code for: tests/data/hosts/unseen-mixed.umockdev (E810 in PCI
domain 0001 with VFs across a bus boundary, BCM57414, ConnectX-6 Dx, a two-netdev ConnectX-3, a PF
on vfio-pci, GPU/NVMe/USB) and tests/data/nodes/unseen-mixed.xml (every kind of VF use, conflicts,
odd guest names, macvtap on a VF netdev).

The host is discovered once under umockdev (the real discovery code) and rebuilt here, so the
libvirt side and pool planning run in-process against the real test driver; the CLI runs as a
subprocess under umockdev for the JSON and text contracts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import unicodedata

import pytest
from paths import DATA, ROOT
from umockdev_run import HOSTS, discover_in_testbed

from vfpool_tui.core.model import PF, VF, Host
from vfpool_tui.core.pools import create as pool_create
from vfpool_tui.core.scan import scan
from vfpool_tui.core.virt.connection import LibvirtUnavailable, open_connection

HOST_FILE = HOSTS / "unseen-mixed.umockdev"
NODE = DATA / "nodes" / "unseen-mixed.xml"
URI = f"test://{NODE}"
PCI = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
LONG = "x" * 200

pytestmark = [pytest.mark.umockdev,
              pytest.mark.skipif(not shutil.which("umockdev-run"), reason="umockdev-run missing")]


def _host_from(data: dict) -> Host:
    pfs = []
    for p in data["pfs"]:
        vfs = tuple(VF(**v) for v in p["vfs"])
        fields = {k: (tuple(v) if isinstance(v, list) else v) for k, v in p.items() if k != "vfs"}
        pfs.append(PF(**fields, vfs=vfs))
    return Host(pfs=tuple(pfs), pci_devices=frozenset(data["pci_devices"]),
                errors=tuple(data["errors"]))


@pytest.fixture(scope="module")
def host() -> Host:
    return _host_from(discover_in_testbed(HOST_FILE))


@pytest.fixture
def conn():
    c = open_connection(URI, readonly=False)
    yield c
    c.close()


def cli(*args: str) -> subprocess.CompletedProcess:
    cmd = ["umockdev-run", "-d", str(HOST_FILE), "--", sys.executable, "-m", "vfpool_tui", *args,
           "--connect", URI]
    env = dict(os.environ, PYTHONPATH=str(ROOT), LC_ALL="C.UTF-8")
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120, env=env)


@pytest.fixture(scope="module")
def scan_json() -> dict:
    res = cli("scan", "--json")
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    return json.loads(res.stdout)


# --------------------------------------------------------------------------- host side


def test_discovery_of_other_nic_families(host):
    assert host.errors == ()
    pfs = {p.pci: p for p in host.pfs}
    # sorted by (domain, bus, ...): domain 0001 last
    assert [p.pci for p in host.pfs] == [
        "0000:04:00.0", "0000:3b:00.0", "0000:3b:00.1", "0000:af:00.0", "0000:af:00.1",
        "0001:17:00.0", "0001:17:00.1", "0001:17:00.2", "0001:17:00.3"]
    e810 = pfs["0001:17:00.0"]
    assert (e810.name, e810.driver, e810.vendor_id, e810.device_id, e810.totalvfs, e810.numvfs,
            e810.vf_offset, e810.vf_stride, e810.numa_node) == (
        "ens801f0", "ice", "8086", "1593", 64, 12, 8, 1, 1)
    assert [v.index for v in e810.vfs] == list(range(12))  # virtfn10, 11 after virtfn9
    assert [v.pci for v in e810.vfs][9:] == ["0001:17:02.1", "0001:17:02.2", "0001:17:02.3"]
    assert [(v.driver, v.netdev, v.device_id) for v in e810.vfs[:3]] == [
        ("iavf", "ens801f0v0", "1889"), ("iavf", "ens801f0v1", "1889"), ("vfio-pci", None, "1889")]
    assert e810.vfs[11].driver is None
    assert pfs["0001:17:00.1"].netdevs == ("e810.p1-lab",) and pfs["0001:17:00.1"].vfs == ()
    bare = pfs["0001:17:00.2"]  # the PF itself on vfio-pci: no netdev, named by its address
    assert (bare.name, bare.driver, bare.netdevs, bare.link) == ("0001:17:00.2", "vfio-pci", (), None)
    pf3 = pfs["0001:17:00.3"]
    assert len(pf3.vfs) == 58
    assert [(v.index, v.pci) for v in pf3.vfs[55:]] == [
        (55, "0001:17:1f.7"), (56, "0001:18:00.0"), (57, "0001:18:00.1")]  # across the bus
    assert pf3.possible_vf_addresses()[56] == "0001:18:00.0"
    assert pfs["0000:04:00.0"].netdevs == ("ens4", "ens4d1")  # ConnectX-3: two ports, one function
    bnxt = pfs["0000:3b:00.0"]
    assert (bnxt.driver, bnxt.device_id, [v.device_id for v in bnxt.vfs]) == (
        "bnxt_en", "16d7", ["16dc"] * 4)
    cx6 = pfs["0000:af:00.0"]
    assert (cx6.device_id, cx6.vfs[0].pci, cx6.vfs[-1].pci, cx6.eswitch_mode) == (
        "101d", "0000:af:00.2", "0000:af:01.5", None)
    assert {"0000:81:00.0", "0000:82:00.0", "0000:00:14.0"} <= host.pci_devices


# --------------------------------------------------------------------------- libvirt side


def test_scan_json_contract(scan_json):
    d = scan_json
    for pf in d["pfs"]:
        assert set(pf) >= {"name", "pci", "driver", "totalvfs", "numvfs", "vfs"}
        assert PCI.match(pf["pci"])
        for vf in pf["vfs"]:
            assert set(vf) >= {"index", "pci", "driver", "holders"} and PCI.match(vf["pci"])
            for h in vf["holders"]:
                assert set(h) >= {"guest", "kind", "active"}
                assert h["kind"] in ("hostdev", "interface-hostdev", "pool")
    for p in d["pools"]:
        assert set(p) >= {"name", "pfs", "active", "autostart", "capacity", "in_use", "free"}
    for g in d["guests"]:
        assert set(g) >= {"name", "state", "vf_devices"}
        for dev in g["vf_devices"]:
            assert dev["pci"] is None or PCI.match(dev["pci"])
    for p in d["problems"]:
        assert set(p) >= {"kind", "message", "pcis", "guests"}
        assert all(PCI.match(a) for a in p["pcis"])


def test_scan_json_holders(scan_json):
    vfs = {vf["pci"]: vf for pf in scan_json["pfs"] for vf in pf["vfs"]}
    triple = vfs["0000:af:00.6"]["holders"]
    assert [(h["guest"], h["kind"], h["active"]) for h in triple] == [
        ("[red]x", "hostdev", False), ("triple-a", "hostdev", True),
        ("ゲスト-三", "interface-hostdev", False)]
    # address without a domain attribute and with upper-case hex: 0000:3b:00.4
    assert [(h["guest"], h["kind"]) for h in vfs["0000:3b:00.4"]["holders"]] == [("-dash", "hostdev")]
    assert [h["guest"] for h in vfs["0001:17:01.2"]["holders"]] == ["web 1 (prod)"]
    assert [h["guest"] for h in vfs["0001:18:00.0"]["holders"]] == [LONG]
    assert [(h["guest"], h["active"]) for h in vfs["0000:04:00.1"]["holders"]] == [("paused one", True)]
    # the macvtap guest's VF (enp175s0f1v0) has no holder: the VF stays with its host driver
    assert vfs["0000:af:02.2"]["holders"] == []


def test_scan_json_guests(scan_json):
    g = {x["name"]: x for x in scan_json["guests"]}
    assert len(g) == 19
    q = g['it\'s "quoted"']["vf_devices"]
    assert q == [{"kind": "interface-hostdev", "pci": "0000:af:00.5", "pci_source": "config",
                  "network": None, "mac": "52:54:00:c0:ff:ee", "vlan": [300], "alias": "ua-sriov-x",
                  "guest_address": "0000:07:00.0", "boot_order": 2, "managed": True}]
    assert g["-dash"]["vf_devices"][0]["managed"] is False  # no managed attribute: libvirt's 'no'
    assert (g["paused one"]["state"], g["-dash"]["state"]) == ("paused", "shut off")
    assert g["gpu-nvme-usb"]["vf_devices"] == []
    assert g["gpu-nvme-usb"]["other_pci_hostdevs"] == ["0000:81:00.0", "0000:82:00.0", "0001:17:00.2"]
    assert g["macvtap-vm"]["vf_devices"] == [] and g["nat only"]["vf_devices"] == []
    # ... but its macvtap interface sits on a VF's netdev, and that VF is in list-pool
    assert g["macvtap-vm"]["macvtap_vfs"] == ["0000:af:02.2"]
    macvtap = [p for p in scan_json["problems"] if p["kind"] == "vf-netdev-macvtap"]
    assert [(p["pcis"], p["guests"], p["pool"], p["severity"]) for p in macvtap] == [
        (["0000:af:02.2"], ["macvtap-vm"], "list-pool", "warning")]
    assert "enp175s0f1v0 disappears" in macvtap[0]["message"]
    assert [(d["kind"], d["pci"]) for d in g["ghost"]["vf_devices"]] == [
        ("interface-hostdev", "0001:17:09.0"), ("hostdev", "0001:17:03.4")]
    assert [(d["kind"], d["network"], d["pci"]) for d in g["pool-user-running"]["vf_devices"]] == [
        ("pool", "cx6-pool", None)]  # the test driver allocates no VF: unknown


def test_scan_json_pools(scan_json):
    p = {x["name"]: x for x in scan_json["pools"]}
    assert list(p) == ["bnxt-pool", "cx6-pool", "e810-lab", "list-pool", "old-pool"]
    got = {n: (x["pfs"], x["active"], x["autostart"], x["capacity"], x["in_use"], x["blocked"],
               x["free"]) for n, x in p.items()}
    assert got == {
        "bnxt-pool": ([], True, True, 2, 1, 0, 1),
        # 12 VFs; af:00.5, af:00.6 and af:01.0 hard-coded in running guests
        "cx6-pool": (["enp175s0f0np0"], True, True, 12, 1, 3, 8),
        "e810-lab": (["e810.p1-lab"], False, True, 0, 0, 0, 0),
        "list-pool": ([], True, False, 2, 1, 0, 1),
        "old-pool": (["eth9"], False, True, None, 0, 0, None),
    }
    assert p["list-pool"]["managed"] is False


def test_scan_json_problems(scan_json):
    probs = [(x["kind"], x.get("pool"), tuple(x["pcis"]), tuple(x["guests"]))
             for x in scan_json["problems"]]
    assert ("vf-multiple-guests", None, ("0000:af:00.6",), ("[red]x", "triple-a", "ゲスト-三")) in probs
    for addr, guests in (("0000:af:00.5", ('it\'s "quoted"',)), ("0000:af:01.0", ("pinned-ü",))):
        assert ("pool-vf-hardcoded", "cx6-pool", (addr,), guests) in probs
    assert ("vf-missing", None, ("0001:17:03.4",), ("ghost",)) in probs
    assert ("vf-missing", None, ("0001:17:09.0",), ("ghost",)) in probs
    assert ("pool-pf-missing", "old-pool", (), ("on-missing-pf",)) in probs
    assert ("pool-pf-no-vfs", "e810-lab", (), ("on-lab",)) in probs
    vfio = {x["pf"]: x["pcis"] for x in scan_json["problems"] if x["kind"] == "vfio-unused"}
    assert vfio["ens801f0"] == [f"0001:17:0{s}" for s in
                                ("1.3", "1.4", "1.5", "1.6", "1.7", "2.0", "2.1", "2.2")]
    assert vfio["ens801f3"] == ["0001:17:1f.6", "0001:17:1f.7", "0001:18:00.1"]
    # cx6-pool has a running guest whose VF is unknown: its idle vfio VFs may be that one's
    assert "enp175s0f0np0" not in vfio


def _display_width(line: str) -> int:
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
               for c in line)


def test_scan_text_fits_80_columns_with_names_verbatim():
    res = cli("scan")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    too_wide = [ln for ln in lines if _display_width(ln) > 80]
    assert too_wide == []
    # 1 guest in use, which VF it holds libvirt does not say (the test driver has no ports): "1 (1?)"
    assert "  cx6-pool   enp175s0f0np0  active    yes   12   1 (1?)  3        8" in lines
    for name in ("[red]x", 'it\'s "quoted"', "ゲスト-三", "pinned-ü", "-dash", "web 1 (prod)"):
        assert name in res.stdout
    # the 200-character name is broken over lines, never cut: all of it is there, in order
    guests = res.stdout.split("\nGuests\n", 1)[1]
    assert LONG in "".join(ln.strip() for ln in guests.splitlines() if set(ln.strip()) == {"x"})


# --------------------------------------------------------------------------- in-process, real test driver


def test_in_process_scan_matches_the_node(conn, host):
    result = scan(conn=conn, host=host)
    names = [g.name for g in result.guests]
    assert LONG in names and "ゲスト-三" in names
    assert result.uri == URI


class _DyingConnection:
    """INJECTED fault: a real test-driver connection that is closed by the first listAllNetworks
    call, as when libvirtd goes away mid-scan."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        attr = getattr(self._real, name)
        if name != "listAllNetworks":
            return attr

        def dying(*args):
            self._real.close()
            return attr(*args)
        return dying


def test_connection_dying_mid_scan_is_one_line_naming_the_uri(host):
    real = open_connection(URI, readonly=False)
    with pytest.raises(LibvirtUnavailable) as exc:
        scan(conn=_DyingConnection(real), host=host)
    msg = str(exc.value)
    assert "\n" not in msg
    # before: "cannot read libvirt at the default URI" although the connection was to the node
    assert msg.startswith(f"cannot read libvirt at {URI}: ")


def _plan(conn, host, pf, name="newpool", **kw):
    return pool_create.plan_pool(scan(conn=conn, host=host), pf, name, conn=conn, **kw)


@pytest.mark.parametrize("pf, name, reason", [
    ("enp175s0f0np0", "n", "already has a pool: network 'cx6-pool'"),
    ("enp59s0f0np0", "n", "already has a pool: network 'bnxt-pool'"),  # its VFs in an address list
    ("0000:af:00.1", "n", "already has a pool: network 'list-pool'"),
    ("e810.p1-lab", "n", "already has a pool: network 'e810-lab'"),
    ("ens801f0", "default", "a network named 'default' already exists"),
    ("ens801f0", "a/b", "may not contain '/'"),
    ("0000:82:00.0", "n", "is not an SR-IOV PF"),
    ("0000:99:00.0", "n", "no PCI device 0000:99:00.0"),
    ("eth9", "n", "no PF eth9 on this host"),
    ("ens801f0v0", "n", "is a VF (of PF ens801f0)"),
    ("0001:17:00.2", "n", "has no network device"),
    ("enp59s0f1np1", "n", "has no VFs enabled"),
])
def test_refusals(conn, host, pf, name, reason):
    with pytest.raises(pool_create.PoolRefused) as exc:
        _plan(conn, host, pf, name)
    assert reason in exc.value.reason and "\n" not in exc.value.reason


def test_short_pci_address_in_another_domain_gets_a_hint(conn, host):
    with pytest.raises(pool_create.PoolRefused) as exc:
        _plan(conn, host, "17:00.3")
    assert exc.value.reason == ("no PCI device 0000:17:00.3 on this host (a short address means PCI "
                                "domain 0000; did you mean 0001:17:00.3?)")


def test_pf_by_pci_address_in_domain_0001_and_odd_names(conn, host):
    plan = _plan(conn, host, "0001:17:00.3", "pool ü")
    assert "<pf dev=\"ens801f3\"/>" in plan.xml and "<name>pool ü</name>" in plan.xml
    assert any(w.kind == "vf-hardcoded" and w.guests == (LONG,) for w in plan.warnings)
    result = pool_create.execute(conn, plan)
    assert result.ok, result.error
    net = conn.networkLookupByName("pool ü")
    assert net.isActive() and net.autostart()


def test_second_netdev_of_a_two_port_function_is_kept_as_named(conn, host):
    # ConnectX-3: ens4 and ens4d1 are one PCI function; the operator named ens4d1
    plan = _plan(conn, host, "ens4d1")
    assert plan.pf_dev == "ens4d1" and "<pf dev=\"ens4d1\"/>" in plan.xml
    assert _plan(conn, host, "0000:04:00.0").pf_dev == "ens4"


def test_cli_dry_run_changes_nothing():
    before = NODE.read_bytes()
    res = cli("pool", "create", "--pf", "ens801f3", "--name", "p3", "--dry-run")
    assert res.returncode == 0, res.stderr
    assert "dry run: nothing is changed" in res.stdout and "<pf dev=\"ens801f3\"/>" in res.stdout
    assert "[ ok ]" not in res.stdout and NODE.read_bytes() == before

"""The demo hypervisor data (vfpool_tui/demo) and the large-host generator (bench/gen_host.py).

* node.xml opens in libvirt's test driver with the expected guests, states and networks, and every
  domain validates against libvirt's RelaxNG schema;
* host.umockdev loads under umockdev-run and pyudev sees the PFs, VFs and virtfn/physfn links that
  offset/stride predict;
* every hard-coded VF address in node.xml is on the demo host, except the one intentional missing VF;
* gen_host output at a small size loads in both.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import libvirt
import pytest
from lxml import etree
from paths import ROOT

from vfpool_tui.core import pci
from vfpool_tui.demo import HOST_UMOCKDEV, NODE_XML

DOMAIN_RNG = Path("/usr/share/libvirt/schemas/domain.rng")

_spec = importlib.util.spec_from_file_location("gen_host", ROOT / "bench" / "gen_host.py")
gen_host = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("gen_host", gen_host)  # dataclasses look their module up there
_spec.loader.exec_module(gen_host)

libvirt.registerErrorHandler(lambda *_a: None, None)

needs_umockdev = pytest.mark.skipif(shutil.which("umockdev-run") is None, reason="umockdev-run not installed")

# What pyudev sees under umockdev, as JSON (run inside umockdev-run).
_DUMP = r"""
import json, os, pyudev
ctx = pyudev.Context()
out = {"pci": {}, "net": []}
def link(d, name):
    p = os.path.join(d.sys_path, name)
    return os.path.basename(os.readlink(p)) if os.path.islink(p) else None
for d in ctx.list_devices(subsystem="pci"):
    attrs = {k: d.attributes.asstring(k) for k in
             ("vendor", "device", "class", "numa_node", "sriov_totalvfs", "sriov_numvfs",
              "sriov_offset", "sriov_stride") if k in d.attributes.available_attributes}
    virtfns = {int(n[6:]): link(d, n) for n in os.listdir(d.sys_path) if n.startswith("virtfn")}
    out["pci"][d.sys_name] = {
        "driver": d.driver, "props": dict(d.properties), "attrs": attrs,
        "virtfn": [virtfns[i] for i in sorted(virtfns)], "physfn": link(d, "physfn"),
        "iommu_group": link(d, "iommu_group"),
    }
for d in ctx.list_devices(subsystem="net"):
    a = d.attributes
    get = lambda k: a.asstring(k) if k in a.available_attributes else None
    out["net"].append({"name": d.sys_name, "parent": d.parent.sys_name if d.parent else None,
                       "operstate": get("operstate"), "phys_port_name": get("phys_port_name"),
                       "address": get("address"), "interface": d.properties.get("INTERFACE")})
print(json.dumps(out))
"""


def udev_dump(umockdev_file: Path) -> dict:
    res = subprocess.run(
        ["umockdev-run", "-d", str(umockdev_file), "--", sys.executable, "-c", _DUMP],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def open_node(path: Path) -> libvirt.virConnect:
    conn = libvirt.open(f"test://{path.resolve()}")
    gen_host.apply_state(conn, path)
    return conn


def inactive_xml(dom) -> etree._Element:
    return etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE).encode())


def hardcoded_vfs(conn) -> dict[str, list[tuple[str, str]]]:
    """{guest: [(kind, pci address)]} for <hostdev type='pci'> and <interface type='hostdev'>."""
    out: dict[str, list[tuple[str, str]]] = {}
    for dom in conn.listAllDomains():
        x = inactive_xml(dom)
        uses = [("hostdev", pci.from_libvirt_attrs(a.attrib))
                for a in x.iterfind("devices/hostdev[@type='pci']/source/address")]
        uses += [("interface-hostdev", pci.from_libvirt_attrs(a.attrib))
                 for a in x.iterfind("devices/interface[@type='hostdev']/source/address")]
        out[dom.name()] = uses
    return out


def assert_sriov_consistent(dump: dict) -> tuple[dict, dict]:
    """Every PF's virtfn links follow offset/stride, and each VF points back. Returns (pfs, vfs)."""
    devs = dump["pci"]
    pfs = {a: d for a, d in devs.items() if "sriov_totalvfs" in d["attrs"]}
    vfs = {a: d for a, d in devs.items() if d["physfn"]}
    for addr, d in pfs.items():
        at = d["attrs"]
        off, stride, num = int(at["sriov_offset"]), int(at["sriov_stride"]), int(at["sriov_numvfs"])
        assert num <= int(at["sriov_totalvfs"])
        assert d["virtfn"] == [pci.vf_address(addr, off, stride, i) for i in range(num)], addr
        for vf in d["virtfn"]:
            assert vfs[vf]["physfn"] == addr
    assert sum(len(d["virtfn"]) for d in pfs.values()) == len(vfs)
    for addr, d in devs.items():
        p = d["props"]
        assert p["SUBSYSTEM"] == "pci" and p["PCI_SLOT_NAME"] == addr
        assert p["PCI_ID"].lower() == f"{d['attrs']['vendor'][2:]}:{d['attrs']['device'][2:]}"
        assert p["ID_VENDOR_FROM_DATABASE"] and p["ID_MODEL_FROM_DATABASE"]
        assert d["iommu_group"] is not None and d["attrs"]["numa_node"] in ("0", "1")
    groups = [d["iommu_group"] for d in devs.values()]
    assert len(groups) == len(set(groups))
    return pfs, vfs


# --------------------------------------------------------------------------- demo: libvirt side

RUNNING = {
    "web01", "web02", "web[bold]01", *(f"app-{n:02d}" for n in range(1, 8)), "ci-runner-01",
    "nfv-router", "legacy-app", "mlx-dpdk", "ml-train", "dns01", "dns02", "mail01", "monitoring",
    "backup01", "k8s-node-1", "k8s-node-2", "k8s-node-3",
}
SHUT_OFF = {"db-ünïcode", "app-08", "app-09", "pxe-installer", "legacy-app-clone", "old-vm",
            "win2022-ad", "build-cache"}
NETWORKS = {  # name: (active, autostart, pf or None)
    "default": (True, True, None),
    "sriov-pool-a": (True, True, "enp3s0f0"),
    "sriov-pool-b": (True, True, "enp24s0f0"),
    "sriov-pool-novfs": (False, False, "enp24s0f1"),
    "sriov-pool-gone": (False, True, "ens2f0"),
}


@pytest.fixture(scope="module")
def demo_conn():
    conn = open_node(NODE_XML)
    yield conn
    conn.close()


def test_demo_files_are_what_the_generator_writes():
    assert HOST_UMOCKDEV.read_text(encoding="utf-8") == gen_host.demo_host()
    expected = etree.tostring(gen_host.demo_node(), encoding="utf-8") + b"\n"
    assert NODE_XML.read_bytes() == expected, "run: python bench/gen_host.py --demo"


def test_demo_node_guests_and_states(demo_conn):
    states = {d.name(): d.state()[0] for d in demo_conn.listAllDomains()}
    assert set(states) == RUNNING | SHUT_OFF
    assert {n for n, s in states.items() if s == libvirt.VIR_DOMAIN_RUNNING} == RUNNING
    assert {n for n, s in states.items() if s == libvirt.VIR_DOMAIN_SHUTOFF} == SHUT_OFF
    assert all(d.isPersistent() for d in demo_conn.listAllDomains())


def test_demo_node_networks(demo_conn):
    nets = {n.name(): n for n in demo_conn.listAllNetworks()}
    assert set(nets) == set(NETWORKS)
    for name, (active, autostart, pf) in NETWORKS.items():
        net = nets[name]
        assert bool(net.isActive()) is active, name
        assert bool(net.autostart()) is autostart, name
        # the test driver refuses VIR_NETWORK_XML_INACTIVE ("unsupported flags (0x1)")
        x = etree.fromstring(net.XMLDesc(0).encode())
        if pf is None:
            assert x.find("forward").get("mode") == "nat"
        else:
            assert x.find("forward").get("mode") == "hostdev"
            assert x.find("forward").get("managed") == "yes"
            assert [p.get("dev") for p in x.iterfind("forward/pf")] == [pf]


def test_demo_device_forms(demo_conn):
    """Every way a guest can use a VF appears, with the details the UI shows."""
    x = inactive_xml(demo_conn.lookupByName("nfv-router"))
    hd = x.find("devices/hostdev[@type='pci']")
    assert hd.get("managed") == "yes" and hd.find("alias").get("name") == "ua-sriov-wan"
    assert hd.find("address[@type='pci']") is not None  # guest-side slot
    x = inactive_xml(demo_conn.lookupByName("pxe-installer"))
    assert x.find("devices/hostdev/boot").get("order") == "1"
    x = inactive_xml(demo_conn.lookupByName("ci-runner-01"))
    itf = x.find("devices/interface[@type='hostdev']")
    assert itf.get("managed") == "yes" and itf.find("driver").get("name") == "vfio"
    assert itf.find("vlan/tag").get("id") == "100" and itf.find("mac") is not None
    assert itf.find("address[@type='pci']") is not None
    for guest in ("web01", "web[bold]01", "db-ünïcode"):
        x = inactive_xml(demo_conn.lookupByName(guest))
        assert x.find("devices/interface[@type='network']/source").get("network") == "sriov-pool-a"
    pool_b = [d.name() for d in demo_conn.listAllDomains()
              if inactive_xml(d).find("devices/interface/source[@network='sriov-pool-b']") is not None]
    assert len(pool_b) == 9


@pytest.mark.skipif(not DOMAIN_RNG.exists(), reason="libvirt schemas not installed")
@pytest.mark.parametrize("which", ["demo", "generated"])
def test_domain_xml_validates_against_libvirt_schema(which, tmp_path):
    path = NODE_XML if which == "demo" else gen_host.generate(tmp_path, pfs=2, vfs=4, guests=10)[1]
    rng = etree.RelaxNG(file=str(DOMAIN_RNG))
    conn = open_node(path)
    try:
        for dom in conn.listAllDomains():
            x = inactive_xml(dom)
            assert x.get("type") == "test"
            assert rng.validate(x), f"{dom.name()}: {rng.error_log.last_error}"
    finally:
        conn.close()


# --------------------------------------------------------------------------- demo: host side


@pytest.fixture(scope="module")
def demo_dump():
    if shutil.which("umockdev-run") is None:
        pytest.skip("umockdev-run not installed")
    return udev_dump(HOST_UMOCKDEV)


@pytest.mark.umockdev
def test_demo_host_pfs_vfs_and_links(demo_dump):
    pfs, vfs = assert_sriov_consistent(demo_dump)
    numvfs = {a: int(d["attrs"]["sriov_numvfs"]) for a, d in pfs.items()}
    assert numvfs == {"0000:03:00.0": 8, "0000:03:00.1": 4, "0000:18:00.0": 8, "0000:18:00.1": 0,
                      "0000:86:00.0": 4, "0000:86:00.1": 0}
    ids = {a: d["props"]["PCI_ID"] for a, d in demo_dump["pci"].items()}
    assert ids["0000:03:00.0"] == "8086:10FB" and ids["0000:03:10.0"] == "8086:10ED"
    assert ids["0000:18:00.0"] == "8086:1572" and ids["0000:18:02.0"] == "8086:154C"
    assert ids["0000:86:00.0"] == "15B3:1017" and ids["0000:86:00.2"] == "15B3:1018"
    # the plain NIC and the GPU are PCI devices but neither PF nor VF
    for other in ("0000:05:00.0", "0000:af:00.0"):
        assert other not in pfs and other not in vfs
    assert demo_dump["pci"]["0000:af:00.0"]["attrs"]["class"] == "0x030200"
    drivers = {a: d["driver"] for a, d in vfs.items()}
    assert {"vfio-pci", "ixgbevf", "iavf", "mlx5_core", None} <= set(drivers.values())
    assert drivers[gen_host.DEMO_VFIO_UNUSED] == "vfio-pci"
    assert drivers["0000:03:11.6"] is None  # the unbound one


@pytest.mark.umockdev
def test_demo_host_netdevs_and_representors(demo_dump):
    nets = {n["name"]: n for n in demo_dump["net"]}
    assert nets["enp3s0f0"]["parent"] == "0000:03:00.0" and nets["enp3s0f0"]["operstate"] == "up"
    assert nets["enp3s0f0v3"]["parent"] == "0000:03:10.6"
    assert nets["enp24s0f1"]["operstate"] == "down"
    assert nets["enp134s0f0np0"]["phys_port_name"] == "p0"
    reps = sorted(n for n, d in nets.items() if (d["phys_port_name"] or "").startswith("pf0vf"))
    assert reps == [f"enp134s0f0npf0vf{i}" for i in range(4)]
    assert all(nets[r]["parent"] == "0000:86:00.0" for r in reps)  # under the PF, not PFs themselves
    assert all(n["interface"] == name and n["address"] for name, n in nets.items())


@pytest.mark.umockdev
def test_demo_hardcoded_vfs_exist_or_are_the_missing_one(demo_conn, demo_dump):
    host = set(demo_dump["pci"])
    pfs, vfs = assert_sriov_consistent(demo_dump)
    uses = hardcoded_vfs(demo_conn)
    missing = {(g, a) for g, us in uses.items() for _, a in us if a not in host}
    assert missing == {("old-vm", gen_host.DEMO_MISSING_VF)}
    # the missing VF is where VF 4 of enp3s0f1 would be: inside that PF's offset/stride range
    pf = pfs["0000:03:00.1"]["attrs"]
    assert gen_host.DEMO_MISSING_VF == pci.vf_address(
        "0000:03:00.1", int(pf["sriov_offset"]), int(pf["sriov_stride"]), int(pf["sriov_numvfs"]))
    holders: dict[str, list[str]] = {}
    for g, us in uses.items():
        for _, a in us:
            holders.setdefault(a, []).append(g)
    # one VF hard-coded in two guests
    assert sorted(holders["0000:03:10.5"]) == ["legacy-app", "legacy-app-clone"]
    assert [a for a, gs in holders.items() if len(gs) > 1] == ["0000:03:10.5"]
    # a pool-a VF (PF enp3s0f0) hard-coded in a guest
    assert holders["0000:03:11.0"] == ["ci-runner-01"]
    assert "0000:03:11.0" in pfs["0000:03:00.0"]["virtfn"]
    # a vfio-pci VF outside every pool that nobody holds
    assert gen_host.DEMO_VFIO_UNUSED not in holders and vfs[gen_host.DEMO_VFIO_UNUSED]["driver"] == "vfio-pci"
    # the GPU passthrough is not a VF; the two-PF guest has VFs of two different PFs
    assert ("hostdev", "0000:af:00.0") in uses["ml-train"] and "0000:af:00.0" not in vfs
    assert {vfs[a]["physfn"] for _, a in uses["nfv-router"]} == {"0000:03:00.1", "0000:86:00.0"}
    # pool PFs: novfs has none, gone does not exist
    pf_by_netdev = {n["name"]: n["parent"] for n in demo_dump["net"]}
    assert pfs[pf_by_netdev["enp24s0f1"]]["attrs"]["sriov_numvfs"] == "0"
    assert "ens2f0" not in pf_by_netdev
    assert len(pfs[pf_by_netdev["enp24s0f0"]]["virtfn"]) == 8  # pool-b: 8 VFs, 7 running guests


# --------------------------------------------------------------------------- generator


def test_generator_rejects_bad_sizes(tmp_path):
    with pytest.raises(ValueError):
        gen_host.generate(tmp_path, pfs=0)
    with pytest.raises(ValueError):
        gen_host.generate(tmp_path, vfs=200)


def test_generated_node_loads(tmp_path):
    host_path, node_path = gen_host.generate(tmp_path, pfs=2, vfs=4, guests=10)
    assert host_path == tmp_path / "host.umockdev" and node_path == tmp_path / "node.xml"
    conn = open_node(node_path)
    try:
        doms = conn.listAllDomains()
        assert len(doms) == 10
        nets = {n.name(): n for n in conn.listAllNetworks()}
        assert "default" in nets and sum(1 for n in nets if n.startswith("pool-")) == 1
        kinds = set()
        for d in doms:
            x = inactive_xml(d)
            kinds |= {"pool" for s in x.iterfind("devices/interface[@type='network']/source")
                      if s.get("network").startswith("pool-")}
            kinds |= {"interface-hostdev" for _ in x.iterfind("devices/interface[@type='hostdev']")}
            kinds |= {"hostdev" for _ in x.iterfind("devices/hostdev")}
        assert kinds == {"pool", "interface-hostdev", "hostdev"}
        states = {d.state()[0] for d in doms}
        assert states == {libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_SHUTOFF}
    finally:
        conn.close()


@needs_umockdev
@pytest.mark.umockdev
def test_generated_host_loads_and_matches_node(tmp_path):
    host_path, node_path = gen_host.generate(tmp_path, pfs=2, vfs=4, guests=10)
    dump = udev_dump(host_path)
    pfs, vfs = assert_sriov_consistent(dump)
    # the last PF enables one VF fewer, leaving room in its VF range for the missing-VF conflict
    assert len(pfs) == 2 and len(vfs) == 7
    assert sorted(len(d["virtfn"]) for d in pfs.values()) == [3, 4]
    pf_netdevs = [n for n in dump["net"] if n["parent"] in pfs]
    assert len(pf_netdevs) == 2
    conn = open_node(node_path)
    try:
        uses = hardcoded_vfs(conn)
    finally:
        conn.close()
    addrs = [a for us in uses.values() for _, a in us]
    missing = [a for a in addrs if a not in dump["pci"]]
    assert len(missing) == 1  # the deliberate missing VF ...
    last_pf = max(pfs)  # ... is VF 3 of the last PF by its offset/stride: the one not enabled
    assert missing[0] == pci.vf_address(last_pf, int(pfs[last_pf]["attrs"]["sriov_offset"]),
                                        int(pfs[last_pf]["attrs"]["sriov_stride"]), 3)
    assert len(addrs) != len(set(addrs))  # the deliberate duplicate


def test_cli_writes_both_files(tmp_path):
    res = subprocess.run([sys.executable, str(ROOT / "bench" / "gen_host.py"), str(tmp_path),
                          "--pfs", "1", "--vfs", "2", "--guests", "3"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "host.umockdev").read_text().startswith("P: /devices/")
    assert etree.parse(str(tmp_path / "node.xml")).getroot().tag == "node"

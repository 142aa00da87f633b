#!/usr/bin/env python3
"""Emulated SR-IOV hypervisors for vfpool-tui: umockdev host descriptions + libvirt test-driver nodes.

Two uses:

* ``python bench/gen_host.py OUTDIR --pfs 16 --vfs 64 --guests 500`` writes ``OUTDIR/host.umockdev``
  and ``OUTDIR/node.xml``: a large host for benchmarks and scale tests (``generate()`` does the same
  from Python and returns both paths).
* ``python bench/gen_host.py --demo`` rewrites the built-in demo (``vfpool_tui/demo/host.umockdev``
  and ``vfpool_tui/demo/node.xml``) from ``demo_host()`` / ``demo_node()`` below, so the demo data
  has one readable source. The tests check that the committed files equal what this prints.

Hardware facts used (names from pci.ids, as udev's hwdb reports them):

=============================  =========  =========  ===============  ======  ======  =====
chip                           PF id      VF id      drivers          offset  stride  total
=============================  =========  =========  ===============  ======  ======  =====
Intel 82599ES (dual port)      8086:10fb  8086:10ed  ixgbe/ixgbevf    128     2       63
Intel X710 (dual port)         8086:1572  8086:154c  i40e/iavf        16, 79  1       64
Mellanox ConnectX-5 (2 port)   15b3:1017  15b3:1018  mlx5_core        2, T+1  1       T
=============================  =========  =========  ===============  ======  ======  =====

* 82599: both ports' first VF sits at device 0x10 (PF .0 -> bb:10.0, 10.2, ...; PF .1 -> bb:10.1,
  10.3, ...); ixgbe caps VFs at 63.
* X710: PF0's VFs start at bb:02.0, PF1's at bb:0a.0 (16 + 64 - 1 = 79): the two ports share one
  contiguous range of 128 routing IDs.
* ConnectX-5: T = firmware NUM_OF_VFS (sriov_totalvfs, 8 by default); PF0's VFs start at bb:00.2,
  PF1's right after PF0's T VFs (offset T + 1). In switchdev mode every VF has a representor netdev
  under the PF's ``net/`` whose ``phys_port_name`` is ``pf0vfN``; the uplink's is ``p0``.
* Netdev names follow systemd's path scheme: ``enp3s0f0``, VFs ``enp3s0f0v6`` (systemd >= 249),
  ``np0``/``npf0vf1`` suffixes from ``phys_port_name``.
* Every VF address is PF routing ID + offset + stride * i (``vfpool_tui.core.pci.vf_address``).

XML is built with lxml only. The umockdev format is plain text (``P:`` device path, ``E:`` udev
property, ``A:`` sysfs attribute, ``L:`` sysfs link relative to the device directory, a blank line
between devices; it has no comment syntax).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # runnable as a script from anywhere
    sys.path.insert(0, str(ROOT))

from vfpool_tui.core import pci  # noqa: E402

TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"
# Demo state that a test-driver node file cannot express (the driver starts every <network> active
# and none autostarted): the demo applies it after opening the URI. The test driver ignores it.
from vfpool_tui.core.virt.node_state import STATE_NS  # noqa: E402,F401
from vfpool_tui.core.virt.node_state import apply_node_state as apply_state  # noqa: E402,F401
from vfpool_tui.core.virt.node_state import read_node_state as read_state  # noqa: E402,F401

RUNSTATE_SHUTOFF = 5

VENDORS = {"8086": "Intel Corporation", "15b3": "Mellanox Technologies", "10de": "NVIDIA Corporation"}


# --------------------------------------------------------------------------- chips


@dataclass(frozen=True)
class Chip:
    key: str
    vendor: str
    device: str
    vf_device: str
    model: str
    vf_model: str
    pf_driver: str
    vf_driver: str
    totalvfs: int
    offsets: tuple[int, int]  # sriov_offset of port 0 and port 1
    stride: int
    mlx: bool = False  # phys_port_name on the uplink (p0/p1), switchdev-capable


X82599 = Chip("82599ES", "8086", "10fb", "10ed",
              "82599ES 10-Gigabit SFI/SFP+ Network Connection",
              "82599 Ethernet Controller Virtual Function",
              "ixgbe", "ixgbevf", 63, (128, 128), 2)
X710 = Chip("X710", "8086", "1572", "154c",
            "Ethernet Controller X710 for 10GbE SFP+", "Ethernet Virtual Function 700 Series",
            "i40e", "iavf", 64, (16, 79), 1)


def connectx5(totalvfs: int = 8) -> Chip:
    return Chip("ConnectX-5", "15b3", "1017", "1018",
                "MT27800 Family [ConnectX-5]", "MT27800 Family [ConnectX-5 Virtual Function]",
                "mlx5_core", "mlx5_core", totalvfs, (2, totalvfs + 1), 1, mlx=True)


# --------------------------------------------------------------------------- umockdev text


@dataclass
class Device:
    path: str  # /devices/...
    props: list[tuple[str, str]] = field(default_factory=list)
    attrs: list[tuple[str, str]] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"P: {self.path}"]
        lines += [f"E: {k}={v}" for k, v in self.props]
        lines += [f"A: {k}={v}" for k, v in self.attrs]
        lines += [f"L: {k}={v}" for k, v in self.links]
        return "\n".join(lines) + "\n"


def _up(path: str) -> str:
    """Relative prefix from a device directory (``/devices/...``) back to /sys."""
    return "../" * (path.count("/"))


def _mac(*parts: object, prefix: str = "52:54:00") -> str:
    h = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return prefix + "".join(f":{b:02x}" for b in h[:3])


def _hwmac(*parts: object) -> str:
    """A host NIC MAC: a fixed vendor-style OUI, then stable bytes."""
    h = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return "3c:fd:fe" + "".join(f":{b:02x}" for b in h[:3])


def stable_uuid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "vfpool-tui-demo:" + name))


def netdev_base(address: str) -> str:
    _, bus, slot, func = pci.split(address)
    return f"enp{bus}s{slot}f{func}"


class HostBuilder:
    """Collects umockdev devices for a host; keeps iommu groups unique."""

    def __init__(self, first_iommu_group: int = 20) -> None:
        self.devices: list[Device] = []
        self._groups = itertools.count(first_iommu_group)

    def text(self) -> str:
        return "\n".join(d.text() for d in self.devices)

    def pci(self, parent: str, address: str, vendor: str, device: str, cls: str, numa: int,
            driver: str | None, model: str, *, attrs=(), links=()) -> Device:
        path = f"{parent}/{address}"
        dev = Device(path)
        dev.props += [("SUBSYSTEM", "pci")]
        if driver:
            dev.props.append(("DRIVER", driver))
        dev.props += [
            ("PCI_CLASS", cls.removeprefix("0x").upper().lstrip("0") or "0"),
            ("PCI_ID", f"{vendor.upper()}:{device.upper()}"),
            ("PCI_SLOT_NAME", address),
            ("ID_PCI_CLASS_FROM_DATABASE", _CLASS_NAMES[cls[:4]]),
            ("ID_PCI_SUBCLASS_FROM_DATABASE", _SUBCLASS_NAMES[cls[:6]]),
            ("ID_VENDOR_FROM_DATABASE", VENDORS[vendor]),
            ("ID_MODEL_FROM_DATABASE", model),
        ]
        dev.attrs += [("vendor", f"0x{vendor}"), ("device", f"0x{device}"), ("class", cls),
                      ("numa_node", str(numa)), *attrs]
        up = _up(path)
        if driver:
            dev.links.append(("driver", f"{up}bus/pci/drivers/{driver}"))
        dev.links.append(("iommu_group", f"{up}kernel/iommu_groups/{next(self._groups)}"))
        dev.links += list(links)
        self.devices.append(dev)
        return dev

    def net(self, parent: Device, name: str, mac: str, operstate: str = "up", *,
            phys_port_name: str | None = None, switch_id: str | None = None) -> Device:
        dev = Device(f"{parent.path}/net/{name}")
        dev.props += [("SUBSYSTEM", "net"), ("INTERFACE", name), ("ID_NET_DRIVER", _driver_of(parent))]
        dev.attrs += [("address", mac), ("operstate", operstate), ("type", "1"), ("mtu", "1500")]
        if phys_port_name:
            dev.attrs.append(("phys_port_name", phys_port_name))
        if switch_id:
            dev.attrs.append(("phys_switch_id", switch_id))
        dev.links.append(("device", "../../../" + parent.path.rsplit("/", 1)[1]))
        self.devices.append(dev)
        return dev

    def sriov_pf(self, parent: str, address: str, chip: Chip, port: int, numa: int, numvfs: int,
                 vf_drivers: list[str | None], *, netdev: str | None = None, operstate: str = "up",
                 switchdev: bool = False) -> tuple[Device, list[str]]:
        """A PF and its VFs. ``vf_drivers[i]`` is VF i's driver (None = unbound)."""
        assert len(vf_drivers) == numvfs <= chip.totalvfs
        offset, stride = chip.offsets[port], chip.stride
        vf_addrs = [pci.vf_address(address, offset, stride, i) for i in range(numvfs)]
        vf_parent = parent
        pf = self.pci(
            parent, address, chip.vendor, chip.device, "0x020000", numa, chip.pf_driver, chip.model,
            attrs=[("sriov_totalvfs", str(chip.totalvfs)), ("sriov_numvfs", str(numvfs)),
                   ("sriov_offset", str(offset)), ("sriov_stride", str(stride)),
                   ("sriov_vf_device", chip.vf_device), ("sriov_drivers_autoprobe", "1")],
            links=[(f"virtfn{i}", f"../{a}") for i, a in enumerate(vf_addrs)],
        )
        base = netdev_base(address)
        name = netdev or base + (f"np{port}" if chip.mlx else "")
        switch_id = hashlib.sha256(address.encode()).hexdigest()[:16] if switchdev else None
        self.net(pf, name, _hwmac(address), operstate,
                 phys_port_name=f"p{port}" if chip.mlx else None, switch_id=switch_id)
        for i, (vf_addr, drv) in enumerate(zip(vf_addrs, vf_drivers)):
            vf = self.pci(vf_parent, vf_addr, chip.vendor, chip.vf_device, "0x020000", numa, drv,
                          chip.vf_model, links=[("physfn", f"../{address}")])
            if drv == chip.vf_driver:  # a host NIC driver: the VF has a netdev
                self.net(vf, f"{base}v{i}", _hwmac(vf_addr), "up")
            if switchdev:  # representor under the PF
                self.net(pf, f"{base}npf{port}vf{i}", _hwmac("rep", vf_addr), "up",
                         phys_port_name=f"pf{port}vf{i}", switch_id=switch_id)
        return pf, vf_addrs


_CLASS_NAMES = {"0x02": "Network controller", "0x03": "Display controller"}
_SUBCLASS_NAMES = {"0x0200": "Ethernet controller", "0x0302": "3D controller"}


def _driver_of(dev: Device) -> str:
    return dict(dev.props).get("DRIVER", "")


# --------------------------------------------------------------------------- libvirt XML


def _addr(address: str, **extra: str) -> dict[str, str]:
    return {**extra, **pci.libvirt_attrs(address)}


def domain(name: str, *, running: bool = True, memory_mib: int = 2048, vcpus: int = 2,
           devices: list[etree._Element] = (), title: str | None = None) -> etree._Element:
    dom = etree.Element("domain", type="test", nsmap={"test": TEST_NS})
    etree.SubElement(dom, "name").text = name
    etree.SubElement(dom, "uuid").text = stable_uuid(name)
    if title:
        etree.SubElement(dom, "title").text = title
    etree.SubElement(dom, "memory", unit="KiB").text = str(memory_mib * 1024)
    etree.SubElement(dom, "currentMemory", unit="KiB").text = str(memory_mib * 1024)
    etree.SubElement(dom, "vcpu", placement="static").text = str(vcpus)
    os_ = etree.SubElement(dom, "os")
    etree.SubElement(os_, "type", arch="x86_64").text = "hvm"
    devs = etree.SubElement(dom, "devices")
    for d in devices:
        devs.append(d)
    if not running:
        etree.SubElement(dom, f"{{{TEST_NS}}}runstate").text = str(RUNSTATE_SHUTOFF)
    return dom


def guest_slot(n: int) -> str:
    """Guest-side PCI slot for the n-th passthrough device (slots 0x10 and up on bus 0)."""
    return pci.format_address(0, 0, 0x10 + n, 0)


def nat_interface(mac: str, network: str = "default") -> etree._Element:
    el = etree.Element("interface", type="network")
    etree.SubElement(el, "mac", address=mac)
    etree.SubElement(el, "source", network=network)
    etree.SubElement(el, "model", type="virtio")
    return el


def pool_interface(mac: str, network: str) -> etree._Element:
    el = etree.Element("interface", type="network")
    etree.SubElement(el, "mac", address=mac)
    etree.SubElement(el, "source", network=network)
    return el


def hostdev_interface(vf: str, mac: str, *, vlan: int | None = None, guest_addr: str | None = None,
                      alias: str | None = None) -> etree._Element:
    el = etree.Element("interface", type="hostdev", managed="yes")
    etree.SubElement(el, "mac", address=mac)
    etree.SubElement(el, "driver", name="vfio")
    src = etree.SubElement(el, "source")
    etree.SubElement(src, "address", _addr(vf, type="pci"))
    if vlan is not None:
        etree.SubElement(etree.SubElement(el, "vlan"), "tag", id=str(vlan))
    if alias:
        etree.SubElement(el, "alias", name=alias)
    if guest_addr:
        etree.SubElement(el, "address", _addr(guest_addr, type="pci"))
    return el


def hostdev(address: str, *, guest_addr: str | None = None, alias: str | None = None,
            boot_order: int | None = None) -> etree._Element:
    el = etree.Element("hostdev", mode="subsystem", type="pci", managed="yes")
    src = etree.SubElement(el, "source")
    etree.SubElement(src, "address", _addr(address))
    if boot_order is not None:
        etree.SubElement(el, "boot", order=str(boot_order))
    if alias:
        etree.SubElement(el, "alias", name=alias)
    if guest_addr:
        etree.SubElement(el, "address", _addr(guest_addr, type="pci"))
    return el


def pool_network(name: str, pf_dev: str) -> etree._Element:
    net = etree.Element("network")
    etree.SubElement(net, "name").text = name
    etree.SubElement(net, "uuid").text = stable_uuid("net:" + name)
    fwd = etree.SubElement(net, "forward", mode="hostdev", managed="yes")
    etree.SubElement(fwd, "pf", dev=pf_dev)
    return net


def nat_network(name: str = "default", bridge: str = "virbr0", subnet: int = 122) -> etree._Element:
    net = etree.Element("network")
    etree.SubElement(net, "name").text = name
    etree.SubElement(net, "uuid").text = stable_uuid("net:" + name)
    fwd = etree.SubElement(net, "forward", mode="nat")
    nat = etree.SubElement(fwd, "nat")
    etree.SubElement(nat, "port", start="1024", end="65535")
    etree.SubElement(net, "bridge", name=bridge, stp="on", delay="0")
    ip = etree.SubElement(net, "ip", address=f"192.168.{subnet}.1", netmask="255.255.255.0")
    dhcp = etree.SubElement(ip, "dhcp")
    etree.SubElement(dhcp, "range", start=f"192.168.{subnet}.2", end=f"192.168.{subnet}.254")
    return net


def nodedev_elements(devices: list[Device]) -> list[etree._Element]:
    """The same host as libvirt's node-device API reports it (``<device>`` elements for a test-driver
    node): PCI devices with class, ids and names, NUMA node, IOMMU group, driver, a PF's
    ``virt_functions`` (maxCount = sriov_totalvfs) and a VF's ``phys_function``; net devices with
    their interface, MAC and link state. Built from the umockdev description, so both discovery
    paths see one host."""
    by_path = {d.path: d for d in devices}
    out = []

    def pci_name(address: str) -> str:
        return pci.nodedev_name(address)

    for d in devices:
        props, attrs = dict(d.props), dict(d.attrs)
        links = dict(d.links)
        if props.get("SUBSYSTEM") == "pci":
            address = props["PCI_SLOT_NAME"]
            dom, bus, slot, func = pci.split(address)
            dev = etree.Element("device")
            etree.SubElement(dev, "name").text = pci_name(address)
            etree.SubElement(dev, "path").text = "/sys" + d.path
            parent = d.path.rsplit("/", 1)[0].rsplit("/", 1)[1]
            etree.SubElement(dev, "parent").text = pci_name(parent) if pci.is_address(parent) else "computer"
            if props.get("DRIVER"):
                etree.SubElement(etree.SubElement(dev, "driver"), "name").text = props["DRIVER"]
            cap = etree.SubElement(dev, "capability", type="pci")
            etree.SubElement(cap, "class").text = attrs["class"]
            for tag, value in (("domain", dom), ("bus", bus), ("slot", slot), ("function", func)):
                etree.SubElement(cap, tag).text = str(value)  # decimal, as libvirt prints them
            vendor_id, device_id = props["PCI_ID"].lower().split(":")
            etree.SubElement(cap, "product", id=f"0x{device_id}").text = props.get("ID_MODEL_FROM_DATABASE", "")
            etree.SubElement(cap, "vendor", id=f"0x{vendor_id}").text = props.get("ID_VENDOR_FROM_DATABASE", "")
            if "sriov_totalvfs" in attrs:
                vfs = etree.SubElement(cap, "capability", type="virt_functions", maxCount=attrs["sriov_totalvfs"])
                for i in range(int(attrs.get("sriov_numvfs", "0"))):
                    target = links.get(f"virtfn{i}")
                    if target:
                        etree.SubElement(vfs, "address", **pci.libvirt_attrs(target.rsplit("/", 1)[1]))
            if "physfn" in links:
                pf = etree.SubElement(cap, "capability", type="phys_function")
                etree.SubElement(pf, "address", **pci.libvirt_attrs(links["physfn"].rsplit("/", 1)[1]))
            if "iommu_group" in links:
                grp = etree.SubElement(cap, "iommuGroup", number=links["iommu_group"].rsplit("/", 1)[1])
                etree.SubElement(grp, "address", **pci.libvirt_attrs(address))
            if attrs.get("numa_node", "-1") != "-1":
                etree.SubElement(cap, "numa", node=attrs["numa_node"])
            out.append(dev)
        elif props.get("SUBSYSTEM") == "net":
            owner = by_path.get(d.path.rsplit("/net/", 1)[0])
            iface = props["INTERFACE"]
            dev = etree.Element("device")
            etree.SubElement(dev, "name").text = f"net_{iface}_{attrs['address'].replace(':', '_')}"
            etree.SubElement(dev, "path").text = "/sys" + d.path
            if owner is not None:
                etree.SubElement(dev, "parent").text = pci_name(dict(owner.props)["PCI_SLOT_NAME"])
            cap = etree.SubElement(dev, "capability", type="net")
            etree.SubElement(cap, "interface").text = iface
            etree.SubElement(cap, "address").text = attrs["address"]
            etree.SubElement(cap, "link", state=attrs.get("operstate", "unknown"))
            etree.SubElement(cap, "capability", type="80203")
            out.append(dev)
    return out


def node(domains: list[etree._Element], networks: list[etree._Element], *,
         inactive: tuple[str, ...] = (), autostart: tuple[str, ...] = (),
         comment: str | None = None, devices: list[etree._Element] = ()) -> etree._ElementTree:
    root = etree.Element("node", nsmap={"vfpool": STATE_NS})
    if comment:
        root.append(etree.Comment(comment))
    for dev in devices:
        root.append(dev)
    for net in networks:
        root.append(net)
    for dom in domains:
        root.append(dom)
    state = etree.SubElement(root, f"{{{STATE_NS}}}state")
    for net in networks:
        name = net.findtext("name")
        etree.SubElement(state, f"{{{STATE_NS}}}network", name=name,
                         active="no" if name in inactive else "yes",
                         autostart="yes" if name in autostart else "no")
    cpu = etree.SubElement(root, "cpu")
    for tag, val in (("mhz", "2400"), ("model", "x86_64"), ("active", "64"), ("nodes", "2"),
                     ("sockets", "2"), ("cores", "16"), ("threads", "2")):
        etree.SubElement(cpu, tag).text = val
    etree.SubElement(root, "memory").text = str(512 * 1024 * 1024)  # KiB: 512 GiB
    etree.indent(root, space="  ")
    return etree.ElementTree(root)


def write_xml(tree: etree._ElementTree, path: Path) -> None:
    path.write_bytes(etree.tostring(tree, xml_declaration=False, encoding="utf-8") + b"\n")


# --------------------------------------------------------------------------- the demo host

DEMO_COMMENT = """
vfpool-tui demo hypervisor: libvirt test-driver node, used with vfpool_tui/demo/host.umockdev.
Generated by bench/gen_host.py in its demo mode: edit demo_node() there, not this file.

Host (host.umockdev), two NUMA nodes:
  enp3s0f0   0000:03:00.0 Intel 82599ES   ixgbe  8/63 VFs 03:10.0,10.2,..,11.6 (offset 128, stride 2)
             VF0-2 vfio-pci (pool guests), VF3 ixgbevf enp3s0f0v3, VF4 vfio-pci (ci-runner-01),
             VF5-6 ixgbevf, VF7 unbound
  enp3s0f1   0000:03:00.1 Intel 82599ES   ixgbe  4/63 VFs 03:10.1,10.3,10.5,10.7, all vfio-pci
  enp24s0f0  0000:18:00.0 Intel X710      i40e   8/64 VFs 18:02.0-02.7 (offset 16)
             VF0-6 vfio-pci (pool guests), VF7 iavf enp24s0f0v7
  enp24s0f1  0000:18:00.1 Intel X710      i40e   0/64 VFs: SR-IOV disabled (offset 79)
  enp134s0f0np0 0000:86:00.0 ConnectX-5   mlx5_core switchdev, 4/8 VFs 86:00.2-00.5,
             representors enp134s0f0npf0vf0-3; VF0-1 vfio-pci, VF2-3 mlx5_core netdevs
  enp134s0f1np1 0000:86:00.1 ConnectX-5   mlx5_core legacy, 0/8 VFs (offset 9)
  eno1       0000:05:00.0 Intel I210      igb    no SR-IOV (management NIC)
  GPU        0000:af:00.0 NVIDIA Tesla T4 vfio-pci (passed to ml-train)

Networks (<vfpool:state> below: the test driver starts every network active, none autostarted):
  default              NAT, active, autostart
  sriov-pool-a         hostdev pool on enp3s0f0 (8 VFs), active, autostart
  sriov-pool-b         hostdev pool on enp24s0f0 (8 VFs), active, autostart: nearly full
  sriov-pool-novfs     hostdev pool on enp24s0f1, inactive: its PF has sriov_numvfs=0
  sriov-pool-gone      hostdev pool on ens2f0, inactive, autostart: no such PF on this host

Guests (R = running, S = shut off):
  web01, web02, web[bold]01 (R), db-ünïcode (S)   <interface type='network'> on sriov-pool-a
  app-01 .. app-07 (R), app-08, app-09 (S)        on sriov-pool-b: 7 of 8 VFs taken
  ci-runner-01 (R)    <interface type='hostdev'> 03:11.0 vlan 100 = pool-a VF4: PROBLEM pool VF hard-coded
  nfv-router (R)      <hostdev> 03:10.1 (alias ua-sriov-wan) + <interface type='hostdev'> 86:00.2:
                      VFs from two PFs
  pxe-installer (S)   <hostdev> 03:10.3 with <boot order='1'/>
  legacy-app (R), legacy-app-clone (S)   both <hostdev> 03:10.5: PROBLEM one VF in two guests
  old-vm (S)          <hostdev> 03:11.1 = VF4 of enp3s0f1, which has only 4 VFs: PROBLEM missing VF
  mlx-dpdk (R)        <interface type='hostdev'> 86:00.3 vlan 200
  ml-train (R)        <hostdev> 0000:af:00.0 GPU (not a VF) + default network
  dns01, dns02, mail01, monitoring, backup01, k8s-node-1..3 (R), win2022-ad, build-cache (S):
                      ordinary guests on the default network, no VFs
Other problems: 03:10.7 (VF3 of enp3s0f1) is bound to vfio-pci and no guest holds it;
  sriov-pool-novfs (PF without VFs); sriov-pool-gone (PF missing); sriov-pool-b nearly full.
""".replace("--", "-")  # an XML comment cannot contain "--"

PF_A, PF_A1 = "0000:03:00.0", "0000:03:00.1"
PF_B, PF_B1 = "0000:18:00.0", "0000:18:00.1"
PF_M, PF_M1 = "0000:86:00.0", "0000:86:00.1"
GPU = "0000:af:00.0"
NIC = "0000:05:00.0"


def demo_host() -> str:
    h = HostBuilder(first_iommu_group=30)
    root0, root1 = "/devices/pci0000:00", "/devices/pci0000:85"
    h.pci(f"{root0}/0000:00:1c.0", NIC, "8086", "1533", "0x020000", 0, "igb",
          "I210 Gigabit Network Connection")
    h.net(h.devices[-1], "eno1", _hwmac(NIC), "up")
    ixg, vf = X82599.pf_driver, X82599.vf_driver
    h.sriov_pf(f"{root0}/0000:00:02.0", PF_A, X82599, 0, 0, 8,
               ["vfio-pci"] * 3 + [vf, "vfio-pci", vf, vf, None])
    h.sriov_pf(f"{root0}/0000:00:02.0", PF_A1, X82599, 1, 0, 4, ["vfio-pci"] * 4)
    assert ixg == "ixgbe"
    h.sriov_pf("/devices/pci0000:17/0000:17:00.0", PF_B, X710, 0, 0, 8,
               ["vfio-pci"] * 7 + [X710.vf_driver])
    h.sriov_pf("/devices/pci0000:17/0000:17:00.0", PF_B1, X710, 1, 0, 0, [], operstate="down")
    cx5 = connectx5(8)
    h.sriov_pf(f"{root1}/0000:85:00.0", PF_M, cx5, 0, 1, 4,
               ["vfio-pci", "vfio-pci", cx5.vf_driver, cx5.vf_driver], switchdev=True)
    h.sriov_pf(f"{root1}/0000:85:00.0", PF_M1, cx5, 1, 1, 0, [])
    h.pci("/devices/pci0000:ae/0000:ae:00.0", GPU, "10de", "1eb8", "0x030200", 1, "vfio-pci",
          "TU104GL [Tesla T4]")
    return h.text()


def demo_node() -> etree._ElementTree:
    def vf(pf_addr: str, chip: Chip, port: int, i: int) -> str:
        return pci.vf_address(pf_addr, chip.offsets[port], chip.stride, i)

    cx5 = connectx5(8)
    doms: list[etree._Element] = []
    for name, running in (("web01", True), ("web02", True), ("web[bold]01", True), ("db-ünïcode", False)):
        doms.append(domain(name, running=running, devices=[
            pool_interface(_mac(name, "pool"), "sriov-pool-a"),
            nat_interface(_mac(name, "nat")),
        ]))
    for n in range(1, 10):
        name = f"app-{n:02d}"
        doms.append(domain(name, running=n <= 7, memory_mib=4096, devices=[
            pool_interface(_mac(name, "pool"), "sriov-pool-b")]))
    doms.append(domain("ci-runner-01", memory_mib=8192, vcpus=8, devices=[
        hostdev_interface(vf(PF_A, X82599, 0, 4), _mac("ci-runner-01"), vlan=100,
                          guest_addr=guest_slot(0)),
        nat_interface(_mac("ci-runner-01", "nat")),
    ]))
    doms.append(domain("nfv-router", memory_mib=4096, vcpus=4, devices=[
        hostdev(vf(PF_A1, X82599, 1, 0), guest_addr=guest_slot(0), alias="ua-sriov-wan"),
        hostdev_interface(vf(PF_M, cx5, 0, 0), _mac("nfv-router", "lan"), vlan=300,
                          guest_addr=guest_slot(1), alias="ua-sriov-lan"),
    ]))
    doms.append(domain("pxe-installer", running=False, devices=[
        hostdev(vf(PF_A1, X82599, 1, 1), guest_addr=guest_slot(0), alias="ua-pxe", boot_order=1)]))
    doms.append(domain("legacy-app", devices=[hostdev(vf(PF_A1, X82599, 1, 2), guest_addr=guest_slot(0))]))
    doms.append(domain("legacy-app-clone", running=False, devices=[
        hostdev(vf(PF_A1, X82599, 1, 2), guest_addr=guest_slot(0))]))
    doms.append(domain("old-vm", running=False, memory_mib=1024, devices=[
        hostdev(vf(PF_A1, X82599, 1, 4), guest_addr=guest_slot(0))]))
    doms.append(domain("mlx-dpdk", memory_mib=16384, vcpus=8, devices=[
        hostdev_interface(vf(PF_M, cx5, 0, 1), _mac("mlx-dpdk"), vlan=200, guest_addr=guest_slot(0))]))
    doms.append(domain("ml-train", memory_mib=65536, vcpus=16, devices=[
        hostdev(GPU, guest_addr=guest_slot(0), alias="ua-gpu0"),
        nat_interface(_mac("ml-train", "nat")),
    ]))
    for name, running in (("dns01", True), ("dns02", True), ("mail01", True), ("monitoring", True),
                          ("backup01", True), ("k8s-node-1", True), ("k8s-node-2", True),
                          ("k8s-node-3", True), ("win2022-ad", False), ("build-cache", False)):
        doms.append(domain(name, running=running, devices=[nat_interface(_mac(name, "nat"))]))
    nets = [
        nat_network(),
        pool_network("sriov-pool-a", "enp3s0f0"),
        pool_network("sriov-pool-b", "enp24s0f0"),
        pool_network("sriov-pool-novfs", "enp24s0f1"),
        pool_network("sriov-pool-gone", "ens2f0"),
    ]
    return node(doms, nets, inactive=("sriov-pool-novfs", "sriov-pool-gone"),
                autostart=("default", "sriov-pool-a", "sriov-pool-b", "sriov-pool-gone"),
                comment=DEMO_COMMENT)


# demo facts the tests check against (one place)
DEMO_MISSING_VF = pci.vf_address(PF_A1, 128, 2, 4)  # 0000:03:11.1
DEMO_VFIO_UNUSED = pci.vf_address(PF_A1, 128, 2, 3)  # 0000:03:10.7


def write_demo(demo_dir: Path | None = None) -> tuple[Path, Path]:
    demo_dir = demo_dir or ROOT / "vfpool_tui" / "demo"
    host_path, node_path = demo_dir / "host.umockdev", demo_dir / "node.xml"
    host_path.write_text(demo_host(), encoding="utf-8")
    write_xml(demo_node(), node_path)
    return host_path, node_path


# --------------------------------------------------------------------------- large hosts


def _chips_for(vfs: int) -> list[Chip]:
    chips = [c for c in (X710, connectx5(max(vfs, 8) if vfs <= 64 else 127), X82599) if c.totalvfs >= vfs]
    if not chips:
        raise ValueError(f"no modelled chip supports {vfs} VFs per PF (max 127)")
    return chips


def generate(outdir: str | Path, pfs: int = 16, vfs: int = 64, guests: int = 500,
             nodedevs: bool = False) -> tuple[Path, Path]:
    """Write OUTDIR/host.umockdev and OUTDIR/node.xml; return their paths.

    ``pfs`` PFs (dual-port cards, one bus each, chips in turn) with ``vfs`` VFs each, VF drivers
    mostly vfio-pci with every 8th on the host driver and every 16th unbound. Every even PF backs a
    pool network ``pool-<netdev>``. Guests cycle through: pool interface, <interface type='hostdev'>,
    bare <hostdev>, no VF; about 80% running. Deliberate conflicts: a VF hard-coded in two guests,
    a pool VF hard-coded in a guest, a guest holding a VF address the host does not have.
    """
    if pfs < 1 or vfs < 1 or guests < 0:
        raise ValueError("pfs and vfs must be >= 1, guests >= 0")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    chips = _chips_for(vfs)
    cards = (pfs + 1) // 2
    if cards > 120:
        raise ValueError("at most 240 PFs")
    h = HostBuilder()
    pf_info: list[tuple[str, str, list[str], Chip, int]] = []  # (addr, netdev, vf addrs, chip, port)
    for c in range(cards):
        chip = chips[c % len(chips)]
        bus = 2 + 2 * c
        numa = 0 if c < (cards + 1) // 2 else 1
        parent = f"/devices/pci0000:{bus - 1:02x}/0000:{bus - 1:02x}:00.0"
        for port in range(min(2, pfs - 2 * c)):
            addr = pci.format_address(0, bus, 0, port)
            # the last PF enables one VF fewer, so the "missing VF" conflict below can name an
            # address inside its VF range (offset/stride) that the host does not have right now
            n = vfs - 1 if (2 * c + port == pfs - 1 and vfs > 1) else vfs
            drivers = [None if i % 16 == 15 else chip.vf_driver if i % 8 == 7 else "vfio-pci"
                       for i in range(n)]
            pf, vf_addrs = h.sriov_pf(parent, addr, chip, port, numa, n, drivers)
            netdev = next(d.path.rsplit("/", 1)[1] for d in h.devices if d.path.startswith(pf.path + "/net/"))
            pf_info.append((addr, netdev, vf_addrs, chip, port))

    pools = [(f"pool-{netdev}", vf_addrs) for i, (_, netdev, vf_addrs, _, _) in enumerate(pf_info) if i % 2 == 0]
    pool_pfs = {i for i in range(len(pf_info)) if i % 2 == 0}
    present = {pci.normalize(d.path.rsplit("/", 1)[1]) for d in h.devices if "/net/" not in d.path}
    addr, _, vfa, chip, port = pf_info[-1]
    missing_vf = next(a for a in (pci.vf_address(addr, chip.offsets[port], chip.stride, len(vfa) + k)
                                  for k in range(64)) if a not in present)
    free_vfs = [a for i, info in enumerate(pf_info) if i not in pool_pfs for a in info[2]]
    # a single-PF host has no non-pool PF: then hard-code from the pool PF's back half
    if not free_vfs:
        free_vfs = pf_info[0][2][len(pf_info[0][2]) // 2:]
    nets = [nat_network()] + [pool_network(f"pool-{pf_info[i][1]}", pf_info[i][1]) for i in sorted(pool_pfs)]
    doms = []
    taken = iter(free_vfs)
    last_hard: str | None = None
    conflicts = {"duplicate": False, "pool-hardcoded": False, "missing": False}
    for g in range(guests):
        name = f"vm-{g:04d}"
        running = g % 5 != 4
        kind = g % 4
        devs: list[etree._Element] = []
        vf_addr: str | None = None
        if kind in (1, 2):
            if g == 5 and last_hard:  # a VF already hard-coded in another guest
                vf_addr, conflicts["duplicate"] = last_hard, True
            elif g == 9:  # a pool VF hard-coded
                vf_addr, conflicts["pool-hardcoded"] = pools[0][1][-1], True
            elif g == 6:  # an address the host does not have (past the last PF's VFs)
                vf_addr, conflicts["missing"] = missing_vf, True
            else:
                vf_addr = next(taken, None)
                last_hard = vf_addr or last_hard
        if kind == 0:
            devs.append(pool_interface(_mac(name, "pool"), pools[g // 4 % len(pools)][0]))
        elif vf_addr and kind == 1:
            devs.append(hostdev_interface(vf_addr, _mac(name, "vf"), vlan=100 + g % 50,
                                          guest_addr=guest_slot(0)))
        elif vf_addr:
            devs.append(hostdev(vf_addr, guest_addr=guest_slot(0), alias=f"ua-vf{g}"))
        devs.append(nat_interface(_mac(name, "nat")))
        doms.append(domain(name, running=running, memory_mib=1024, vcpus=1, devices=devs))
    comment = (f" generated by bench/gen_host.py: {len(pf_info)} PFs x {vfs} VFs, {guests} guests,"
               f" {len(pools)} pools; conflicts: {', '.join(k for k, v in conflicts.items() if v) or 'none'} ")
    tree = node(doms, nets, autostart=tuple(n.findtext("name") for n in nets), comment=comment,
                devices=nodedev_elements(h.devices) if nodedevs else ())
    host_path, node_path = outdir / "host.umockdev", outdir / "node.xml"
    host_path.write_text(h.text(), encoding="utf-8")
    write_xml(tree, node_path)
    return host_path, node_path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", nargs="?", help="where to write host.umockdev and node.xml")
    ap.add_argument("--pfs", type=int, default=16)
    ap.add_argument("--vfs", type=int, default=64)
    ap.add_argument("--guests", type=int, default=500)
    ap.add_argument("--nodedevs", action="store_true",
                    help="also put the host's node devices in node.xml (discovery through libvirt)")
    ap.add_argument("--demo", action="store_true", help="rewrite vfpool_tui/demo/{host.umockdev,node.xml}")
    args = ap.parse_args(argv)
    if args.demo:
        paths = write_demo(Path(args.outdir) if args.outdir else None)
    elif args.outdir:
        paths = generate(args.outdir, args.pfs, args.vfs, args.guests, nodedevs=args.nodedevs)
    else:
        ap.error("give OUTDIR, or --demo")
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

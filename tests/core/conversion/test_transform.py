"""The domain XML transform (core/conversion/transform.py) on XML shaped the way libvirt prints it.

Fixtures in tests/data_convert/: libvirt 10 q35 guest (interface-hostdev + bare hostdev from two
PFs + a GPU hostdev), libvirt 4 / EL7 i440fx guest (three VFs, virtualport, rom file, managed='no'),
libvirt 8 guest (teaming failover pair, ACPI index) and a running guest's live XML (generated
aliases), and real-world shapes from libvirt's own test data (decimal PCI attributes, an unassigned
hostdev, guest addresses without a slot, zPCI, filterref, backend, writeFiltering, an upper-case
MAC). Every fixture and every result is checked with libvirt's domain RelaxNG schema and by a
validated define on the test driver (``libvirt_accepts.py``).
"""

from __future__ import annotations

import pytest
from libvirt_accepts import assert_libvirt_accepts, libvirt_refuses
from paths import DATA

from vfpool_tui.core.conversion.transform import (
    TransformError,
    convert_domain,
    convert_domain_xml,
    hardcoded_sources,
    unified_diff,
    vf_device_elements,
)
from vfpool_tui.core.virt import domain_xml, xmlutil

CONVERT_DATA = DATA / "convert"


def load(name: str) -> str:
    return (CONVERT_DATA / name).read_text()


def iface_by_alias_or_addr(xml: str, guest_address: str):
    """The converted <interface> at a guest PCI slot."""
    for ref in domain_xml.parse_domain(xml).devices:
        if ref.guest_address == guest_address:
            return ref
    raise AssertionError(f"nothing at {guest_address}")


def assert_valid(xml: str) -> None:
    """libvirt's RelaxNG schema AND a define with VIR_DOMAIN_DEFINE_VALIDATE on the test driver."""
    assert_libvirt_accepts(xml)


@pytest.mark.parametrize("name", sorted(p.name for p in CONVERT_DATA.glob("*.xml")))
def test_fixtures_are_valid_libvirt_xml(name):
    assert_valid(load(name))


def test_interface_hostdev_keeps_mac_vlan_boot_alias_driver_and_slot():
    old = load("libvirt10-q35-mixed.xml")
    res = convert_domain(old, "pool-a", ["0000:03:10.0"])
    assert_valid(res.xml)
    ref = iface_by_alias_or_addr(res.xml, "0000:01:00.0")
    assert ref.kind == domain_xml.INTERFACE_NETWORK
    assert ref.network == "pool-a"
    assert ref.mac == "52:54:00:6d:90:02"
    assert ref.vlan == (42,)
    assert ref.boot_order == 2
    assert ref.alias == "ua-uplink"
    assert ref.source_pci is None  # the host address is gone
    root = xmlutil.parse(res.xml)
    iface = root.find("devices/interface/alias[@name='ua-uplink']/..")
    assert iface.get("managed") is None
    assert iface.find("driver").get("name") == "vfio"
    assert iface.find("source").attrib == {"network": "pool-a"}
    assert len(iface.findall("address")) == 1  # only the guest slot
    ch = res.changes[0]
    assert (ch.form, ch.mac_origin, ch.guest_address) == ("interface-hostdev", "config", "0000:01:00.0")
    assert "source" in ch.dropped and "managed='yes'" in ch.dropped


def test_bare_hostdev_gets_given_mac_and_keeps_rom_alias_slot():
    old = load("libvirt10-q35-mixed.xml")
    res = convert_domain(old, "pool-b", ["0000:02:10.1"], {"0000:02:10.1": "52:54:00:AA:BB:01"})
    assert_valid(res.xml)
    ref = iface_by_alias_or_addr(res.xml, "0000:05:00.0")
    assert (ref.kind, ref.network, ref.mac, ref.alias) == (
        domain_xml.INTERFACE_NETWORK, "pool-b", "52:54:00:aa:bb:01", "ua-storage-net")
    iface = xmlutil.parse(res.xml).find("devices/interface[alias]/alias[@name='ua-storage-net']/..")
    assert iface.find("rom").get("bar") == "off"
    assert res.changes[0].mac_origin == "given"
    assert res.notes == ()


def test_bare_hostdev_without_known_mac_is_told_new_mac():
    old = load("libvirt4-i440fx-el7.xml")
    res = convert_domain(old, "p", ["0000:02:10.5"])
    assert_valid(res.xml)
    ref = iface_by_alias_or_addr(res.xml, "0000:00:08.0")
    assert ref.mac is None and ref.boot_order == 2
    assert res.changes[0].new_mac
    assert any("new MAC" in n for n in res.notes)
    assert any("managed='no'" in n for n in res.notes)


def test_gpu_and_unselected_devices_untouched_and_diff_minimal():
    old = load("libvirt10-q35-mixed.xml")
    res = convert_domain(old, "pool-a", ["0000:03:10.0", "0000:02:10.1"],
                         {"0000:02:10.1": "52:54:00:aa:bb:01"})
    assert_valid(res.xml)
    # the GPU (0000:41:00.0) stays a hostdev, with its own slot
    assert hardcoded_sources(res.xml) == ("0000:41:00.0",)
    # every line outside the two devices is byte-for-byte the same (libvirt's quoting kept)
    diff = unified_diff(old, res.xml, "web1")
    changed = [ln for ln in diff.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    assert all("hostdev" in ln or "source" in ln or "address" in ln or "interface" in ln
               or "mac address" in ln for ln in changed), changed
    assert '"' not in "".join(ln for ln in changed if ln.startswith("+"))
    assert "libosinfo:os id=\"http://debian.org/debian/12\"" in res.xml  # metadata untouched
    # the rest of the document is identical as a tree too
    before = xmlutil.parse(old)
    after = xmlutil.parse(res.xml)
    for tag in ("name", "uuid", "memory", "os", "features", "cpu", "clock", "pm"):
        assert xmlutil.to_string(before.find(tag)) == xmlutil.to_string(after.find(tag))
    assert len(after.find("devices")) == len(before.find("devices"))


def test_three_vfs_two_pfs_with_virtualport_and_rom_file():
    old = load("libvirt4-i440fx-el7.xml")
    res = convert_domain(old, "pool", ["0000:02:10.3", "0000:03:10.2", "0000:02:10.5"],
                         {"0000:02:10.5": "52:54:00:a1:b2:c5"})
    assert_valid(res.xml)
    assert hardcoded_sources(res.xml) == ()
    refs = {r.guest_address: r for r in domain_xml.parse_domain(res.xml).devices}
    assert refs["0000:00:03.0"].mac == "52:54:00:a1:b2:c3"
    assert refs["0000:00:03.0"].vlan == (100,) and refs["0000:00:03.0"].boot_order == 1
    assert refs["0000:00:04.0"].mac == "52:54:00:a1:b2:c4"
    assert refs["0000:00:08.0"].mac == "52:54:00:a1:b2:c5"
    root = xmlutil.parse(res.xml)
    first = root.find("devices/interface[mac]/mac[@address='52:54:00:a1:b2:c3']/..")
    assert first.find("virtualport").get("type") == "802.1Qbh"
    assert first.find("virtualport/parameters").get("profileid") == "finance"
    assert first.find("rom").get("file") == "/usr/share/ipxe/808610ed.rom"
    assert first.find("model").get("type") == "rtl8139"


def test_teaming_and_acpi_index_carried_over():
    old = load("libvirt8-acpi-teaming.xml")
    res = convert_domain(old, "pool", ["0000:02:11.4", "0000:03:11.0"], {"0000:03:11.0": "52:54:00:00:99:01"})
    assert_valid(res.xml)
    root = xmlutil.parse(res.xml)
    vf = root.find("devices/interface[@type='network']/teaming/..")
    assert vf.find("teaming").attrib == {"type": "transient", "persistent": "ua-backup0"}
    assert vf.find("acpi").get("index") == "3"
    assert vf.find("mac").get("address") == "52:54:00:00:12:53"
    # the bridge half of the failover pair is untouched
    assert root.find("devices/interface[@type='bridge']/teaming").get("type") == "persistent"


def test_live_xml_generated_aliases_dropped():
    old = load("live-running-hostdev.xml")
    res = convert_domain(old, "pool", ["0000:02:10.7", "0000:03:10.6"])
    assert_valid(res.xml)
    root = xmlutil.parse(res.xml)
    names = [a.get("name") for a in root.findall("devices/interface/alias")]
    assert names == []
    assert "alias hostdev0" in res.changes[0].dropped
    assert root.find("devices/controller/alias").get("name") == "pcie.0"  # other devices untouched


def test_result_is_stable_under_libvirt_like_reformatting():
    """lxml re-serialised input (double quotes, other line layout) converts to the same tree."""
    old = load("libvirt10-q35-mixed.xml")
    compact = xmlutil.to_string(xmlutil.parse(old))
    a = convert_domain_xml(old, "n", ["0000:03:10.0"])
    b = convert_domain_xml(compact, "n", ["0000:03:10.0"])
    c14n = lambda x: xmlutil.to_string(xmlutil.parse(x))  # noqa: E731
    assert c14n(a).replace(" ", "") == c14n(b).replace(" ", "")
    assert_valid(b)


def test_single_line_document():
    old = ("<domain type='test'><name>t</name><memory>1024</memory><os><type>hvm</type></os>"
           "<devices><interface type='hostdev'><mac address='52:54:00:00:00:01'/><source>"
           "<address type='pci' domain='0x0000' bus='0x02' slot='0x10' function='0x1'/></source>"
           "</interface></devices></domain>")
    new = convert_domain_xml(old, "pool", ["02:10.1"])
    ref = domain_xml.parse_domain(new).devices[0]
    assert (ref.kind, ref.network, ref.mac) == (domain_xml.INTERFACE_NETWORK, "pool", "52:54:00:00:00:01")
    assert_valid(new)


@pytest.mark.parametrize("sources, macs, msg", [
    (["0000:09:00.0"], None, "no hard-coded"),
    ([], None, "no VF selected"),
    (["0000:03:10.0", "03:10.0"], None, "listed twice"),
    (["0000:02:10.1"], {"0000:02:10.1": "not-a-mac"}, "not a MAC"),
    (["0000:03:10.0"], {"0000:03:10.0": "52:54:00:00:00:09"}, "refusing to replace"),
    (["nonsense"], None, "not a PCI address"),
])
def test_refusals(sources, macs, msg):
    with pytest.raises(TransformError, match=msg):
        convert_domain(load("libvirt10-q35-mixed.xml"), "p", sources, macs)


def test_already_on_pool_has_nothing_to_convert():
    old = load("libvirt10-q35-mixed.xml")
    once = convert_domain_xml(old, "p", ["0000:03:10.0"])
    with pytest.raises(TransformError, match="no hard-coded"):
        convert_domain(once, "p", ["0000:03:10.0"])


def test_diff_names_guest():
    old = load("libvirt8-acpi-teaming.xml")
    new = convert_domain_xml(old, "p", ["0000:02:11.4"])
    diff = unified_diff(old, new, "nfv-edge")
    assert diff.startswith("--- nfv-edge (now)\n+++ nfv-edge (on the pool)\n")
    assert "+      <source network='p'/>" in diff
    assert unified_diff(old, old, "x") == ""


def test_trunk_vlan_virtualport_rom_and_namespaced_root_keep_a_minimal_diff():
    """libvirt 9 live-style XML: xmlns:qemu on <domain>, generated aliases, trunk VLAN with
    nativeMode, 802.1Qbh virtualport, <rom enabled='no'>, a bare hostdev with <driver name='vfio'/>
    and a host address without type=. The diff holds the two devices only (libvirt's quoting)."""
    old = load("libvirt9-trunk-virtualport.xml")
    res = convert_domain(old, "pool-a", ["0000:02:10.4", "0000:03:10.1"], {"0000:03:10.1": "52:54:00:7e:00:02"})
    assert_valid(res.xml)
    root = xmlutil.parse(res.xml)
    trunk = root.find("devices/interface/alias[@name='ua-trunk0']/..")
    assert trunk.find("vlan").get("trunk") == "yes"
    assert [(t.get("id"), t.get("nativeMode")) for t in trunk.findall("vlan/tag")] == [("42", "untagged"), ("43", None)]
    assert trunk.find("virtualport/parameters").get("profileid") == "nfv"
    assert trunk.find("rom").get("enabled") == "no"
    bare = root.find("devices/interface/mac[@address='52:54:00:7e:00:02']/..")
    assert bare.find("driver").get("name") == "vfio" and bare.find("boot").get("order") == "1"
    assert bare.find("alias") is None  # hostdev0 is libvirt's, not the guest's
    diff = unified_diff(old, res.xml, "nfv-trunk")
    changed = [ln for ln in diff.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    assert len(changed) == 16, diff  # 6 for the interface, 10 for the bare hostdev
    assert '"' not in "".join(changed) and res.xml.endswith("</domain>\n")


def _without(root, guest_slots):
    """The tree minus the devices at the given guest PCI slots."""
    for el in list(root.find("devices")):
        if isinstance(el.tag, str) and domain_xml.guest_pci_address(el) in guest_slots:
            el.getparent().remove(el)
    return xmlutil.to_string(root)


@pytest.mark.parametrize("name", sorted(p.name for p in CONVERT_DATA.glob("*.xml")))
def test_nothing_else_changes_and_virt_xml_validate_accepts(name, tmp_path):
    import shutil
    import subprocess

    old = load(name)
    sources = [s for s in hardcoded_sources(old) if s != "0000:41:00.0"]  # the GPU is not a VF
    forms = vf_device_elements(xmlutil.parse(old))
    # a bare <hostdev> gets the VF's MAC; an <interface type='hostdev'> keeps its own
    macs = {s: f"52:54:00:ee:00:{i:02x}" for i, s in enumerate(sources) if forms[s][0] == "hostdev"}
    res = convert_domain(old, "pool-a", sources, macs)
    slots = {ch.guest_address for ch in res.changes}
    assert None not in slots  # every converted device kept its guest slot
    assert _without(xmlutil.parse(old), slots) == _without(xmlutil.parse(res.xml), slots)
    if shutil.which("virt-xml-validate"):
        f = tmp_path / "new.xml"
        f.write_text(res.xml)
        run = subprocess.run(["virt-xml-validate", str(f), "domain"], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr + run.stdout


# --------------------------------------------------------------------------- libvirt's own rules
# shapes/libvirt-testdata-shapes.xml re-types device shapes from libvirt's tests (qemuxml2argvdata
# hostdev-pci-address-unassigned, net-hostdev, domainschemadata): decimal PCI attributes, an
# unassigned hostdev, guest addresses without a slot, filterref/backend, writeFiltering, an upper-case MAC

SHAPES = (CONVERT_DATA / "shapes" / "libvirt-testdata-shapes.xml").read_text()


def test_the_shapes_fixture_is_one_libvirt_accepts():
    assert_libvirt_accepts(SHAPES)


def test_decimal_pci_attributes_are_read_as_libvirt_reads_them():
    # bus='32' slot='15' is 0x20, 0x0f; slot='25' is 0x19 (as hex, 0x25 is out of range)
    assert hardcoded_sources(SHAPES) == ("55aa:20:0f.3", "0000:02:19.1", "0005:90:01.1", "0000:03:07.1",
                                         "0000:03:07.2")
    parsed = domain_xml.parse_domain(SHAPES)
    assert parsed.problems == ()
    assert [r.source_pci for r in parsed.devices] == list(hardcoded_sources(SHAPES))
    res = convert_domain(SHAPES, "pool-a", ["55aa:20:0f.3", "0000:02:19.1"],
                         {"55aa:20:0f.3": "52:54:00:5a:00:03", "0000:02:19.1": "52:54:00:5a:00:04"})
    assert_valid(res.xml)
    assert hardcoded_sources(res.xml) == ("0005:90:01.1", "0000:03:07.1", "0000:03:07.2")


def test_a_guest_address_without_a_slot_is_assign_a_slot_not_0000_00_00_0():
    by_source = {r.source_pci: r for r in domain_xml.parse_domain(SHAPES).devices}
    assert by_source["55aa:20:0f.3"].guest_address == "0000:00:06.0"
    assert by_source["0000:02:19.1"].guest_address is None  # <address type='pci'/>
    assert by_source["0000:03:07.2"].guest_address is None  # a function alone: libvirt assigns a slot
    res = convert_domain(SHAPES, "pool-a", ["0000:02:19.1", "0000:03:07.2"], {"0000:02:19.1": "52:54:00:5a:00:04"})
    assert_valid(res.xml)
    assert [ch.guest_address for ch in res.changes] == [None, None]


def test_unassigned_hostdev_is_refused_with_libvirts_reason():
    with pytest.raises(TransformError, match="supported only for hostdevs") as err:
        convert_domain(SHAPES, "pool-a", ["0005:90:01.1"])
    assert "not a guest NIC" in str(err.value)
    assert domain_xml.parse_domain(SHAPES).devices[2].unassigned
    # what carrying it would have given: both schema validators accept it, libvirt does not
    res = convert_domain(SHAPES, "pool-a", ["0000:03:07.1"])
    root = xmlutil.parse(res.xml)
    root.find("devices/interface[@type='network']/address").set("type", "unassigned")
    for name in ("domain", "bus", "slot", "function"):
        del root.find("devices/interface[@type='network']/address").attrib[name]
    carried = xmlutil.to_string(root)
    assert xmlutil.validate(carried, "domain") == []
    assert "address of type 'unassigned' is supported only for hostdevs" in libvirt_refuses(carried)


def test_every_drop_has_its_true_reason_and_upper_case_mac_is_said():
    res = convert_domain(SHAPES, "pool-a", ["0000:03:07.1", "0000:02:19.1"], {"0000:02:19.1": "52:54:00:5a:00:04"})
    assert_valid(res.xml)
    iface = xmlutil.parse(res.xml).find("devices/interface[@type='network']/vlan/..")
    assert iface.get("trustGuestRxFilters") == "yes"  # valid on a network interface: carried
    assert iface.find("mac").get("address") == "00:11:22:aa:bb:cc"
    notes = "\n".join(res.notes)
    assert "MAC 00:11:22:AA:BB:CC is written 00:11:22:aa:bb:cc" in notes
    assert "filterref (libvirt applies network filters to a host tap device" in notes
    assert "backend (names the host's tap and vhost devices" in notes
    assert "<source writeFiltering='no'>" in notes
    assert "not valid on a network interface" not in notes  # both are valid there: not the reason
    assert ("filterref", "backend") == tuple(d for d in res.changes[0].dropped if d in ("filterref", "backend"))

"""PCI address handling and the SR-IOV routing-ID arithmetic."""

import pytest
from lxml import etree

from vfpool_tui.core import pci


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0000:03:10.1", "0000:03:10.1"),
        ("03:10.1", "0000:03:10.1"),
        ("0000:3:1.0", "0000:03:01.0"),
        ("0001:AF:1F.7", "0001:af:1f.7"),
        (" 0000:82:00.0 ", "0000:82:00.0"),
    ],
)
def test_normalize(text, expected):
    assert pci.normalize(text) == expected


@pytest.mark.parametrize("text", ["", "eth3", "0000:03:10.8", "0000:03:20.0x", "0000:100:00.0", "03.10.1"])
def test_normalize_rejects(text):
    with pytest.raises(pci.PciAddressError):
        pci.normalize(text)


def test_libvirt_attrs_round_trip():
    el = etree.Element("address", type="pci", **pci.libvirt_attrs("0000:82:0a.3"))
    assert el.get("domain") == "0x0000" and el.get("bus") == "0x82"
    assert el.get("slot") == "0x0a" and el.get("function") == "0x3"
    assert pci.from_libvirt_attrs(el.attrib) == "0000:82:0a.3"


def test_from_libvirt_attrs_reads_numbers_as_libvirt_does():
    """strtoul base 0, as virPCIDeviceAddressParseXML: decimal unless 0x, a leading 0 is octal, a
    missing part is 0. (This test used to assert that '1a' reads as hex: libvirt refuses it.)"""
    assert pci.from_libvirt_attrs({"bus": "0x02", "slot": "0x10", "function": "0x1"}) == "0000:02:10.1"
    # libvirt's own test data writes decimal: bus 32, slot 15 are 0x20, 0x0f
    assert pci.from_libvirt_attrs({"domain": "0x55aa", "bus": "32", "slot": "15", "function": "3"}) \
        == "55aa:20:0f.3"
    assert pci.from_libvirt_attrs({"domain": "0", "bus": "2", "slot": "25", "function": "1"}) == "0000:02:19.1"
    assert pci.from_libvirt_attrs({"domain": "0000", "bus": "010", "slot": "010", "function": "1"}) \
        == "0000:08:08.1"
    assert pci.from_libvirt_attrs({"bus": " +2", "slot": "0X1f", "function": "7"}) == "0000:02:1f.7"


@pytest.mark.parametrize("attrs", [{"bus": "1a"}, {"bus": ""}, {"slot": "0x"}, {"bus": "-1"}, {"slot": "09"},
                                   {"bus": "2 "}, {"slot": "40"}, {"bus": "256"}])
def test_from_libvirt_attrs_refuses_what_libvirt_refuses(attrs):
    # '1a', '', '0x', '-1', '2 ' and octal '09': "Expected non-negative integer value"; 40 and 256:
    # out of range for a slot (0x1f) and a bus (0xff)
    with pytest.raises(pci.PciAddressError):
        pci.from_libvirt_attrs(attrs)


@pytest.mark.parametrize("attrs, expected", [
    ({}, None),  # <address type='pci'/>
    ({"function": "0x3"}, None),  # libvirt prints this back as <address type='pci'/>
    ({"domain": "0", "bus": "0", "slot": "0"}, None),
    ({"bus": "1"}, "0000:01:00.0"),
    ({"bus": "0", "slot": "3"}, "0000:00:03.0"),
])
def test_guest_slot_without_slot_means_libvirt_assigns_one(attrs, expected):
    assert pci.guest_slot_from_attrs(attrs) == expected


def test_vf_address_intel_82599():
    # 82599 port 0 at 03:00.0: First VF Offset 0x80 (128), VF Stride 2 -> VF0 03:10.0, VF1 03:10.2
    assert pci.vf_address("0000:03:00.0", 128, 2, 0) == "0000:03:10.0"
    assert pci.vf_address("0000:03:00.0", 128, 2, 1) == "0000:03:10.2"
    # port 1 at 03:00.1 interleaves: VF0 03:10.1
    assert pci.vf_address("0000:03:00.1", 128, 2, 0) == "0000:03:10.1"
    # VF 4 lands in the next slot
    assert pci.vf_address("0000:03:00.0", 128, 2, 4) == "0000:03:11.0"


def test_vf_address_crosses_bus():
    # routing id overflowing the bus's 256 functions moves to the next bus number
    assert pci.vf_address("0000:3b:00.0", 256, 1, 0) == "0000:3c:00.0"


def test_nodedev_name():
    assert pci.nodedev_name("0000:02:10.1") == "pci_0000_02_10_1"

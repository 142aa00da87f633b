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


def test_from_libvirt_attrs_without_domain_and_decimalish():
    assert pci.from_libvirt_attrs({"bus": "0x02", "slot": "0x10", "function": "0x1"}) == "0000:02:10.1"
    # libvirt accepts hex without the 0x prefix in input XML
    assert pci.from_libvirt_attrs({"domain": "0000", "bus": "1a", "slot": "02", "function": "3"}) == "0000:1a:02.3"


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

"""PCI addresses: parsing, normalising, and the SR-IOV routing-ID arithmetic.

Every PCI address the core hands out is written ``dddd:bb:ss.f`` in lower case.
"""

from __future__ import annotations

import re

_BDF = re.compile(
    r"^(?:(?P<domain>[0-9a-fA-F]{1,8}):)?(?P<bus>[0-9a-fA-F]{1,2}):(?P<slot>[0-9a-fA-F]{1,2})\.(?P<func>[0-7])$"
)


class PciAddressError(ValueError):
    pass


def normalize(text: str) -> str:
    """``0000:3:10.1`` / ``03:10.1`` / ``0000:03:10.1`` -> ``0000:03:10.1``."""
    m = _BDF.match(text.strip())
    if not m:
        raise PciAddressError(f"not a PCI address: {text!r}")
    return format_address(
        int(m["domain"] or "0", 16), int(m["bus"], 16), int(m["slot"], 16), int(m["func"], 16)
    )


def is_address(text: str) -> bool:
    return bool(_BDF.match(text.strip()))


def format_address(domain: int, bus: int, slot: int, function: int) -> str:
    if not (0 <= bus <= 0xFF and 0 <= slot <= 0x1F and 0 <= function <= 7 and 0 <= domain <= 0xFFFF_FFFF):
        raise PciAddressError(f"PCI address out of range: {domain:x}:{bus:x}:{slot:x}.{function:x}")
    return f"{domain:04x}:{bus:02x}:{slot:02x}.{function:x}"


def _int_attr(value: str | None) -> int:
    if value is None or value == "":
        return 0
    return int(value, 0) if value.lower().startswith("0x") else int(value, 16)


def from_libvirt_attrs(attrs) -> str:
    """Address from a libvirt ``<address domain= bus= slot= function=>`` element's attributes.

    libvirt writes them as hex with a 0x prefix; a missing domain means 0.
    """
    return format_address(
        _int_attr(attrs.get("domain")),
        _int_attr(attrs.get("bus")),
        _int_attr(attrs.get("slot")),
        _int_attr(attrs.get("function")),
    )


def libvirt_attrs(address: str) -> dict[str, str]:
    """The attributes libvirt writes for a PCI address (``0x`` hex, domain 4 digits)."""
    d, b, s, f = split(address)
    return {"domain": f"0x{d:04x}", "bus": f"0x{b:02x}", "slot": f"0x{s:02x}", "function": f"0x{f:x}"}


def split(address: str) -> tuple[int, int, int, int]:
    m = _BDF.match(address)
    if not m:
        raise PciAddressError(f"not a PCI address: {address!r}")
    return int(m["domain"] or "0", 16), int(m["bus"], 16), int(m["slot"], 16), int(m["func"], 16)


def routing_id(address: str) -> int:
    _, bus, slot, func = split(address)
    return (bus << 8) | (slot << 3) | func


def from_routing_id(domain: int, rid: int) -> str:
    return format_address(domain, (rid >> 8) & 0xFF, (rid >> 3) & 0x1F, rid & 0x7)


def vf_address(pf_address: str, offset: int, stride: int, index: int) -> str:
    """Address of VF ``index`` of a PF, from the PF's ``sriov_offset`` and ``sriov_stride``.

    The SR-IOV spec: VF routing ID = PF routing ID + First VF Offset + index * VF Stride.
    """
    domain = split(pf_address)[0]
    return from_routing_id(domain, routing_id(pf_address) + offset + stride * index)


def nodedev_name(address: str) -> str:
    """libvirt node-device name: ``0000:02:10.1`` -> ``pci_0000_02_10_1``."""
    return "pci_" + normalize(address).replace(":", "_").replace(".", "_")

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


def parse_uint(value: str, what: str = "value") -> int:
    """An XML attribute read the way libvirt reads PCI address parts: ``strtoul`` with base 0.

    ``0x``/``0X`` then hex, a leading ``0`` then octal, else decimal (``slot='15'`` is 15, ``slot='0x15'``
    is 21, ``bus='010'`` is 8); leading blanks and a ``+`` are allowed, anything left over is an
    error (libvirt: "Expected non-negative integer value"), so ``bus='1a'`` is refused, not read as hex.
    """
    text = value.lstrip(" \t\n\r\f\v")
    if text.startswith("+"):
        text = text[1:]
    if text[:2] in ("0x", "0X"):
        digits, base = text[2:], 16
    elif len(text) > 1 and text.startswith("0"):
        digits, base = text[1:], 8
    else:
        digits, base = text, 10
    try:
        if not digits or not digits.isascii() or not digits.isalnum():
            raise ValueError
        return int(digits, base)
    except ValueError:
        raise PciAddressError(f"invalid {what} {value!r}: libvirt expects a non-negative integer "
                              "(decimal, or hex with 0x)") from None


def _int_attr(attrs, name: str) -> int:
    value = attrs.get(name)
    if value is None:
        return 0  # libvirt: a missing part is 0
    return parse_uint(value, name)


def from_libvirt_attrs(attrs) -> str:
    """Address from a libvirt ``<address domain= bus= slot= function=>`` element's attributes.

    Parsed as libvirt parses them (``parse_uint``: decimal unless ``0x``); a missing part means 0.
    The one reader of such addresses for the domain, network, network-port and verify code.
    """
    return format_address(*(_int_attr(attrs, n) for n in ("domain", "bus", "slot", "function")))


def guest_slot_from_attrs(attrs) -> str | None:
    """A guest-side ``<address type='pci' .../>``: the address, or None for "libvirt assigns a slot".

    libvirt treats an address whose domain, bus and slot are all 0 as empty and assigns one at define
    (``<address type='pci'/>``, a function alone, a zPCI-only address); it is never ``0000:00:00.0``.
    """
    parts = [_int_attr(attrs, n) for n in ("domain", "bus", "slot", "function")]
    if not any(parts[:3]):
        return None
    return format_address(*parts)


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

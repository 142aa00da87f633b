"""Per-VF administrative settings of every PF from rtnetlink (``IFLA_VFINFO_LIST``), in one dump.

This is what ``ip link show <pf>`` prints as ``vf N link/ether ... vlan ... spoof checking ...
trust ...``: the settings the PF driver enforces for each VF, whoever uses the VF.

One ``RTM_GETLINK`` dump with ``IFLA_EXT_MASK = RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS`` over a
plain ``AF_NETLINK`` socket answers for every link at once, and only four attributes of it are
read, so a scan needs neither one request per PF nor a netlink library's import (pyroute2 took
~150 ms to import, more than the whole dump; the tests still use it, to encode real kernel
messages the parser must read). Layouts are the kernel's UAPI (``linux/netlink.h``,
``linux/rtnetlink.h``, ``linux/if_link.h``); every integer is in host byte order.

Any failure (no permission, another network namespace, an old kernel, a netdev that exists only in
an umockdev testbed) gives an empty result, which means "unknown".
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass

__all__ = ["VfAdmin", "vf_admin_by_link", "vf_admin_info", "parse_link_messages"]

_NO_MAC = "00:00:00:00:00:00"

# linux/netlink.h, linux/rtnetlink.h, linux/if_link.h
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_RTM_NEWLINK, _RTM_GETLINK = 16, 18
_IFLA_IFNAME, _IFLA_VFINFO_LIST, _IFLA_EXT_MASK = 3, 22, 29
_IFLA_VF_INFO = 1
_IFLA_VF_MAC, _IFLA_VF_VLAN, _IFLA_VF_SPOOFCHK, _IFLA_VF_TRUST, _IFLA_VF_VLAN_LIST = 1, 2, 4, 9, 12
_IFLA_VF_VLAN_INFO = 1
_RTEXT_FILTER_VF, _RTEXT_FILTER_SKIP_STATS = 1 << 0, 1 << 3
_NLA_TYPE_MASK = ~((1 << 15) | (1 << 14)) & 0xFFFF  # NLA_F_NESTED, NLA_F_NET_BYTEORDER
_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
_RTATTR = struct.Struct("=HH")  # len, type


@dataclass(frozen=True)
class VfAdmin:
    """One VF's administrative settings on its PF; None = not set or not reported."""

    index: int
    mac: str | None = None  # lower case, None when 00:00:00:00:00:00 (not set)
    vlan: int | None = None  # 0 = no VLAN
    qos: int | None = None
    spoofchk: bool | None = None
    trust: bool | None = None


def _align(n: int) -> int:
    return (n + 3) & ~3


def _attrs(data: bytes | memoryview, start: int = 0, end: int | None = None):
    """(type, payload) of each rtattr in ``data[start:end]``; stops at a malformed one."""
    end = len(data) if end is None else end
    pos = start
    while pos + 4 <= end:
        length, kind = _RTATTR.unpack_from(data, pos)
        if length < 4 or pos + length > end:
            return
        yield kind & _NLA_TYPE_MASK, data[pos + 4:pos + length]
        pos += _align(length)


def _u32(payload, offset: int = 0) -> int | None:
    return struct.unpack_from("=I", payload, offset)[0] if len(payload) >= offset + 4 else None


def _flag(value: int | None) -> bool | None:
    """0/1; the kernel's (u32)-1 ("the driver does not say") and anything else: unknown."""
    return bool(value) if value in (0, 1) else None


def _vf(info) -> VfAdmin | None:
    index = mac = vlan = qos = spoof = trust = None
    for kind, p in _attrs(info):
        if kind == _IFLA_VF_MAC and len(p) >= 10:  # struct ifla_vf_mac { __u32 vf; __u8 mac[32]; }
            index = _u32(p)
            mac = ":".join(f"{b:02x}" for b in bytes(p[4:10]))
        elif kind == _IFLA_VF_VLAN and len(p) >= 12:  # { __u32 vf; __u32 vlan; __u32 qos; }
            vlan, qos = _u32(p, 4), _u32(p, 8)
        elif kind == _IFLA_VF_VLAN_LIST and not vlan:
            for k2, entry in _attrs(p):  # ifla_vf_vlan_info { vf; vlan; qos; __be16 proto; }
                if k2 == _IFLA_VF_VLAN_INFO and len(entry) >= 12 and _u32(entry, 4):
                    vlan, qos = _u32(entry, 4), _u32(entry, 8)
                    break
        elif kind == _IFLA_VF_SPOOFCHK:  # { __u32 vf; __u32 setting; }
            spoof = _u32(p, 4)
        elif kind == _IFLA_VF_TRUST:
            trust = _u32(p, 4)
    if index is None:
        return None
    return VfAdmin(index=index, mac=None if mac == _NO_MAC else mac, vlan=vlan, qos=qos,
                   spoofchk=_flag(spoof), trust=_flag(trust))


def parse_link_messages(data: bytes) -> tuple[dict[str, dict[int, VfAdmin]], bool]:
    """Read a buffer of netlink messages: ``({link name: {vf index: VfAdmin}}, done)``; links
    without VFs are left out; ``done`` when the dump's NLMSG_DONE (or an error) was seen."""
    out: dict[str, dict[int, VfAdmin]] = {}
    view = memoryview(data)
    pos = 0
    while pos + _NLMSGHDR.size <= len(view):
        length, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(view, pos)
        if length < _NLMSGHDR.size or pos + length > len(view):
            return out, True  # truncated: what was read stands, the rest is unknown
        if kind in (_NLMSG_DONE, _NLMSG_ERROR):
            return out, True
        if kind == _RTM_NEWLINK:
            body = pos + _NLMSGHDR.size + _IFINFOMSG.size
            name, vfs = None, {}
            for akind, payload in _attrs(view, body, pos + length):
                if akind == _IFLA_IFNAME:
                    name = bytes(payload).split(b"\0", 1)[0].decode(errors="replace")
                elif akind == _IFLA_VFINFO_LIST:
                    for ikind, info in _attrs(payload):
                        if ikind == _IFLA_VF_INFO:
                            vf = _vf(info)
                            if vf is not None:
                                vfs[vf.index] = vf
            if name and vfs:
                out[name] = vfs
        pos += _align(length)
    return out, False


def _request(seq: int) -> bytes:
    ext = _RTATTR.pack(8, _IFLA_EXT_MASK) + struct.pack("=I", _RTEXT_FILTER_VF | _RTEXT_FILTER_SKIP_STATS)
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + ext
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), _RTM_GETLINK, _NLM_F_REQUEST | _NLM_F_DUMP,
                          seq, 0) + body


def vf_admin_by_link(timeout: float = 2.0) -> dict[str, dict[int, VfAdmin]]:
    """Every link's VFs' admin settings, from one dump: ``{link name: {vf index: VfAdmin}}``.
    Empty when netlink cannot be asked (which the callers read as "unknown")."""
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    except (OSError, AttributeError):
        return {}
    out: dict[str, dict[int, VfAdmin]] = {}
    try:
        sock.settimeout(timeout)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind((0, 0))
        seq = os.getpid() & 0xFFFF
        sock.send(_request(seq))
        done = False
        while not done:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            got, done = parse_link_messages(chunk)
            out.update(got)
    except OSError:
        return out if out else {}
    finally:
        sock.close()
    return out


def vf_admin_info(pf_netdev: str) -> dict[int, VfAdmin]:
    """``{vf index: VfAdmin}`` of one PF netdev; empty when it cannot be learned."""
    if not pf_netdev:
        return {}
    return vf_admin_by_link().get(pf_netdev, {})

"""Per-VF administrative settings of a PF from rtnetlink (``IFLA_VFINFO_LIST``).

This is what ``ip link show <pf>`` prints as ``vf N link/ether ... vlan ... spoof checking ...
trust ...``: the settings the PF driver enforces for each VF, whoever uses the VF.

Any failure (no such link, no permission, another network namespace, an old kernel, a netdev
that exists only in an umockdev testbed) gives an empty result, which means "unknown".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["VfAdmin", "vf_admin_info", "parse_vfinfo"]

_NO_MAC = "00:00:00:00:00:00"
# the kernel fills spoofchk/trust with (u32)-1 when the driver does not report them
_UNSET = 0xFFFFFFFF
_RTEXT_FILTER_VF = 1 << 0
_RTEXT_FILTER_SKIP_STATS = 1 << 3


@dataclass(frozen=True)
class VfAdmin:
    """One VF's administrative settings on its PF; None = not set or not reported."""

    index: int
    mac: str | None = None  # lower case, None when 00:00:00:00:00:00 (not set)
    vlan: int | None = None  # 0 = no VLAN
    qos: int | None = None
    spoofchk: bool | None = None
    trust: bool | None = None


def _flag(value: Any) -> bool | None:
    if not isinstance(value, int) or value == _UNSET:
        return None
    if value in (0, 1):
        return bool(value)
    return None


def _get(nla: Any, name: str) -> Any:
    try:
        return nla.get_attr(name)
    except Exception:
        return None


def _field(attr: Any, key: str) -> Any:
    if isinstance(attr, Mapping) or hasattr(attr, "get"):
        try:
            return attr.get(key)
        except Exception:
            return None
    return None


def parse_vfinfo(msg: Any) -> dict[int, VfAdmin]:
    """Read ``IFLA_VFINFO_LIST`` of one pyroute2 ``ifinfmsg`` into ``{vf index: VfAdmin}``."""
    out: dict[int, VfAdmin] = {}
    vflist = _get(msg, "IFLA_VFINFO_LIST")
    if vflist is None:
        return out
    try:
        infos = vflist.get_attrs("IFLA_VF_INFO")
    except Exception:
        return out
    for info in infos:
        mac_attr = _get(info, "IFLA_VF_MAC")
        index = _field(mac_attr, "vf")
        if not isinstance(index, int):
            continue
        mac = _field(mac_attr, "mac")
        mac = mac.lower() if isinstance(mac, str) and mac and mac != _NO_MAC else None

        vlan = qos = None
        vlan_attr = _get(info, "IFLA_VF_VLAN")
        if vlan_attr is not None:
            vlan, qos = _field(vlan_attr, "vlan"), _field(vlan_attr, "qos")
        vlist = _get(info, "IFLA_VF_VLAN_LIST")
        if (vlan is None or vlan == 0) and vlist is not None:
            try:
                entries = vlist.get_attrs("IFLA_VF_VLAN_INFO")
            except Exception:
                entries = []
            for entry in entries:
                if _field(entry, "vlan"):
                    vlan, qos = _field(entry, "vlan"), _field(entry, "qos")
                    break
        spoof = _get(info, "IFLA_VF_SPOOFCHK")
        trust = _get(info, "IFLA_VF_TRUST")
        out[index] = VfAdmin(
            index=index,
            mac=mac,
            vlan=vlan if isinstance(vlan, int) else None,
            qos=qos if isinstance(qos, int) else None,
            spoofchk=_flag(_field(spoof, "spoofchk")) if spoof is not None else None,
            trust=_flag(_field(trust, "trust")) if trust is not None else None,
        )
    return out


def vf_admin_info(pf_netdev: str) -> dict[int, VfAdmin]:
    """``{vf index: VfAdmin}`` for the PF netdev ``pf_netdev``; empty when it cannot be learned."""
    if not pf_netdev:
        return {}
    try:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            # ext_mask: RTEXT_FILTER_VF (include IFLA_VFINFO_LIST) | RTEXT_FILTER_SKIP_STATS
            # (leave out per-VF counters; kernels that predate it ignore the bit)
            msgs = ipr.link("get", ifname=pf_netdev, ext_mask=_RTEXT_FILTER_VF | _RTEXT_FILTER_SKIP_STATS)
            out: dict[int, VfAdmin] = {}
            for msg in msgs:
                out.update(parse_vfinfo(msg))
            return out
    except Exception:  # NetlinkError (ENODEV, EPERM), OSError, import problems: all "unknown"
        return {}

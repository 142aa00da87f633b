"""What libvirt says about one guest's state: its name, on / off / gone, "no such domain".

Used by planning (which states are converted), the run sequence, the shutdown wait and journal
resume / rollback.
"""

from __future__ import annotations

import libvirt

from vfpool_tui.core.virt import connection


def state_name(code: int) -> str:
    return {
        libvirt.VIR_DOMAIN_NOSTATE: "no state",
        libvirt.VIR_DOMAIN_RUNNING: "running",
        libvirt.VIR_DOMAIN_BLOCKED: "blocked",
        libvirt.VIR_DOMAIN_PAUSED: "paused",
        libvirt.VIR_DOMAIN_SHUTDOWN: "shutting down",
        libvirt.VIR_DOMAIN_SHUTOFF: "shut off",
        libvirt.VIR_DOMAIN_CRASHED: "crashed",
        libvirt.VIR_DOMAIN_PMSUSPENDED: "pmsuspended",
    }.get(code, f"state {code}")


def state_of(dom) -> str | None:
    """The guest's state as a word, None when libvirt does not answer."""
    try:
        return state_name(dom.state()[0])
    except libvirt.libvirtError:
        return None


def is_gone(err: BaseException) -> bool:
    """libvirt says the domain does not exist (any more)."""
    return connection.error_code(err) == libvirt.VIR_ERR_NO_DOMAIN


def power_of(dom) -> str:
    """'off', 'on' or 'gone'; other libvirt errors (connection lost) propagate."""
    try:
        if dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF or not dom.isActive():
            return "off"
        return "on"
    except libvirt.libvirtError as err:
        if is_gone(err):
            return "gone"
        raise

"""The private daemon itself (tests/support/private_libvirtd.py): private, restartable, and gone at the
end with every process it started. The session fixture checks the host paths and ps afterwards."""

from __future__ import annotations

import signal

import libvirt
import pytest
from real_daemon import WHY_NOT, running_guest, wait_for

import private_libvirtd as pl

if WHY_NOT is not None:  # the tier's one skip line (conftest.py leaves the other modules out)
    pytest.skip(f"real-daemon tier: {WHY_NOT}", allow_module_level=True)


def test_daemon_is_a_private_qemu_system_daemon(daemon, conn):
    assert conn.getLibVersion() >= 9_000_000 and conn.getType() == "QEMU"
    assert daemon.socket_path.startswith(daemon.root)
    links = daemon.run_in_ns("ip", "-o", "link").stdout
    assert "eth0@" in links  # its own NIC, in its own network namespace
    assert daemon.timings["start"] < 10


def test_restart_keeps_guests_and_stop_leaves_no_process(daemon, conn):
    dom = running_guest(conn)
    qemu = daemon.qemu_pids()
    assert len(qemu) == 1
    old = daemon.libvirtd_pid
    daemon.restart(signal.SIGTERM)
    assert daemon.libvirtd_pid not in (None, old)
    assert daemon.qemu_pids() == qemu  # the guest survived, the new daemon reconnected to it
    c2 = libvirt.open(daemon.uri)
    assert c2.lookupByName(dom.name()).state()[0] == libvirt.VIR_DOMAIN_RUNNING
    c2.close()
    pids = [daemon.libvirtd_pid, daemon.virtlogd_pid, *qemu]
    daemon.stop()
    assert wait_for(lambda: not any(pl.alive(p) for p in pids), 5)
    daemon.stop()  # idempotent

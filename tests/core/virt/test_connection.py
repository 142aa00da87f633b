"""Which libvirt a command or the TUI opens when no URI is given (core/virt/connection.py).

The real thing (a non-root process reaching a real daemon's read-only ``qemu:///system`` socket)
is in tests/real/test_live_daemon.py; here only the choice, with the user id and the environment
set by monkeypatch.
"""

from __future__ import annotations

import pytest

from vfpool_tui.core.virt import connection


@pytest.mark.parametrize("root", [True, False])
def test_given_uri_wins(monkeypatch, root):
    monkeypatch.setattr(connection, "is_root", lambda: root)
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", "qemu:///session")
    assert connection.effective_uri("test:///default") == "test:///default"


def test_libvirt_default_uri_is_left_to_libvirt(monkeypatch):
    monkeypatch.setattr(connection, "is_root", lambda: False)
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", "qemu+ssh://h/system")
    assert connection.effective_uri(None) is None  # libvirt reads the variable itself


def test_root_gets_libvirts_own_choice(monkeypatch):
    monkeypatch.setattr(connection, "is_root", lambda: True)
    monkeypatch.delenv("LIBVIRT_DEFAULT_URI", raising=False)
    assert connection.effective_uri(None) is None


def test_non_root_gets_the_system_hypervisor_not_a_session_daemon(monkeypatch):
    monkeypatch.setattr(connection, "is_root", lambda: False)
    monkeypatch.delenv("LIBVIRT_DEFAULT_URI", raising=False)
    assert connection.effective_uri(None) == "qemu:///system"
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", "")
    assert connection.effective_uri(None) == "qemu:///system"

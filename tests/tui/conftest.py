"""Fixtures for the TUI tests: the app on the demo hypervisor, through the real code paths.

How the emulated host reaches these tests (the choice, and why):

* The host side (pyudev + sysfs) only sees the demo's SR-IOV NICs inside ``umockdev-run``. Rather
  than run pytest itself under umockdev, a session fixture runs the real ``discover_host()`` once
  under ``umockdev-run -d vfpool_tui/demo/host.umockdev`` (``tests/umockdev_run.py discover``) and
  rebuilds the ``Host`` from its JSON. The rest of the tests then run in this process normally.
* The libvirt side is fully real: the app's own ``Backend`` opens ``test:///.../node.xml`` on its
  libvirt thread, registers lifecycle callbacks, and scans with ``core.scan.scan(host=..., conn=...)``
  (``TuiSettings.discover`` hands it the host instead of ``discover_host()``).
  Lifecycle events in the tests are caused through that connection (``backend.call``), so the
  event path (libvirt -> event thread -> message -> debounced scan -> keyed update) is exercised.
* udev changes are simulated at the Backend boundary (a ``HostChanged`` message with a host whose
  VF really changed), because the umockdev testbed lives in another process.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from vfpool_tui.core.model import PF, VF, Host
from vfpool_tui.demo import HOST_UMOCKDEV, demo_uri

from tui_helpers import FROZEN_TIME

ROOT = Path(__file__).resolve().parents[2]  # the repository


def host_from_json(data: dict) -> Host:
    pfs = []
    for p in data["pfs"]:
        p = dict(p)
        vfs = tuple(VF(**v) for v in p.pop("vfs"))
        for key in ("netdevs", "representors"):
            p[key] = tuple(p.get(key) or ())
        pfs.append(PF(**p, vfs=vfs))
    return Host(pfs=tuple(pfs), pci_devices=frozenset(data.get("pci_devices") or ()),
                errors=tuple(data.get("errors") or ()),
                pci_names=tuple((a, n) for a, n in data.get("pci_names") or ()))


@pytest.fixture(scope="session")
def demo_host() -> Host:
    if shutil.which("umockdev-run") is None:
        pytest.skip("umockdev-run not installed (apt-get install umockdev)")
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from umockdev_run import discover_in_testbed
    finally:
        sys.path.pop(0)
    return host_from_json(discover_in_testbed(HOST_UMOCKDEV, netlink=True))


class HostBox:
    """The host the scanner reports; a test swaps it to simulate a udev-visible change."""

    def __init__(self, host: Host) -> None:
        self.host = host


@pytest.fixture
def host_box(demo_host: Host) -> HostBox:
    return HostBox(demo_host)


@pytest.fixture
def demo_app(host_box: HostBox) -> Callable[..., object]:
    """``demo_app(**overrides)`` -> a VfpoolApp on the demo node through the real Backend."""
    from vfpool_tui.tui.app import TuiSettings, make_app

    def build(**overrides):
        settings = TuiSettings(
            uri=demo_uri(), readonly=False, demo=True, discover=lambda: host_box.host,
            watch_udev=False, clock=lambda: FROZEN_TIME, is_root=False, animate=False,
            debounce=0.05)
        for k, v in overrides.items():
            setattr(settings, k, v)
        return make_app(settings)

    return build

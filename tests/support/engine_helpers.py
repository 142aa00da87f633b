"""The conversion engine's test helpers: a fast Options, the test-driver wrappers that INJECT the
faults the test driver cannot produce (a guest ignoring ACPI, a failing define or start), and short
ways to plan, run and look at a guest. Used by tests/core/conversion/test_engine.py and test_revert.py.
"""

from __future__ import annotations

import threading
import time

import libvirt

from vfpool_tui.core.conversion.engine import ConversionEngine, Options
from vfpool_tui.core.conversion.journal import Journal
from vfpool_tui.core.scan import scan
from vfpool_tui.core.virt import domain_xml

FAST = Options(shutdown_timeout=2.0, poll_interval=0.02, start_timeout=2.0, concurrency=4)
INACTIVE = libvirt.VIR_DOMAIN_XML_INACTIVE
NO_VF_TEXT = ("internal error: network 'pool-a' requires exclusive access to interfaces, "
              "but none are available")


def injected_error(code, message):
    """A libvirtError as libvirt raises it (INJECTED: the test driver cannot produce it)."""
    err = libvirt.libvirtError(message)
    err.err = (code, libvirt.VIR_FROM_NONE, message, libvirt.VIR_ERR_ERROR, None, None, None, 0, 0)
    return err


class InjectedDom:
    """A real test-driver domain with INJECTED faults for the named guest."""

    def __init__(self, dom, faults):
        self._dom, self._f = dom, faults

    def __getattr__(self, attr):
        return getattr(self._dom, attr)

    def shutdown(self):
        self._f.calls.append(("shutdown", self._dom.name()))
        if self._dom.name() in self._f.ignore_shutdown:
            return 0  # INJECTED: the guest OS ignores ACPI
        if self._f.shutdown_delay:
            time.sleep(self._f.shutdown_delay)
        delay = self._f.acpi_delay.get(self._dom.name())
        if delay:  # INJECTED: the guest OS takes its time to power off
            threading.Timer(delay, self._dom.shutdown).start()
            return 0
        return self._dom.shutdown()

    def create(self):
        self._f.calls.append(("create", self._dom.name()))
        n = self._f.start_fail.get(self._dom.name(), 0)
        if n:
            self._f.start_fail[self._dom.name()] = n - 1
            raise injected_error(libvirt.VIR_ERR_INTERNAL_ERROR, NO_VF_TEXT)  # INJECTED
        return self._dom.create()

    def destroy(self):
        self._f.calls.append(("destroy", self._dom.name()))
        return self._dom.destroy()


class InjectedConn:
    """Delegates to a test-driver connection; the listed operations fail (INJECTED)."""

    def __init__(self, conn, ignore_shutdown=(), start_fail=None, define_fail=None, shutdown_delay=0.0,
                 acpi_delay=None):
        self._conn = conn
        self.acpi_delay = dict(acpi_delay or {})  # guest -> seconds between ACPI request and power-off
        self.ignore_shutdown = set(ignore_shutdown)
        self.start_fail = dict(start_fail or {})  # guest -> number of create() calls that fail
        self.define_fail = dict(define_fail or {})  # guest -> list of call numbers (1-based) that fail
        self.define_calls: dict[str, int] = {}
        self.define_flags: list[int] = []
        self.shutdown_delay = shutdown_delay
        self.calls: list = []

    def __getattr__(self, attr):
        return getattr(self._conn, attr)

    def lookupByUUIDString(self, uuid):
        return InjectedDom(self._conn.lookupByUUIDString(uuid), self)

    def lookupByName(self, name):
        return InjectedDom(self._conn.lookupByName(name), self)

    def defineXML(self, xml):
        return self.defineXMLFlags(xml, 0)

    def defineXMLFlags(self, xml, flags=0):
        name = domain_xml.parse_domain(xml).name
        n = self.define_calls[name] = self.define_calls.get(name, 0) + 1
        self.calls.append(("define", name))
        self.define_flags.append(flags)
        if n in self.define_fail.get(name, ()):
            raise injected_error(libvirt.VIR_ERR_XML_ERROR,  # INJECTED
                                 "XML error: injected define failure")
        return InjectedDom(self._conn.defineXMLFlags(xml, flags), self)


def engine_for(c, tmp_path, host_model, options=FAST):
    return ConversionEngine(c, Journal(tmp_path / "journal"), options)


def plan_for(eng, c, host_model, guests, network="pool-a", **kw):
    return eng.plan(scan(conn=c, host=host_model), guests, network, **kw)


def inactive(c, name):
    return c.lookupByName(name).XMLDesc(INACTIVE)


def running(c, name):
    return c.lookupByName(name).isActive() == 1


def collect():
    events = []
    return events, events.append

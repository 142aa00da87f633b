"""Is a domain document one libvirt itself accepts? Its parser and validation, not only its schema.

``defineXMLFlags(VIR_DOMAIN_DEFINE_VALIDATE)`` on a private test-driver connection runs libvirt's
RelaxNG check AND its own parse and post-parse validation (which refuse what the schema lets
through, e.g. ``<address type='unassigned'/>`` on an interface, or a per-device ``<boot>`` beside
``<os><boot>``). The domain is undefined again; nothing else is kept.
"""

from __future__ import annotations

import libvirt

from vfpool_tui.core.virt import connection, xmlutil


def libvirt_refuses(xml: str) -> str | None:
    """None when libvirt defines ``xml`` with validation; else libvirt's message."""
    connection.silence_libvirt_stderr()
    conn = libvirt.open("test:///default")
    try:
        try:
            dom = conn.defineXMLFlags(xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
        except libvirt.libvirtError as err:
            return str(err)
        dom.undefine()
        return None
    finally:
        conn.close()


def assert_libvirt_accepts(xml: str) -> None:
    """Both checks: libvirt's RelaxNG schema, then a validated define on the test driver."""
    errors = xmlutil.validate(xml, "domain")
    assert errors == [], errors
    refused = libvirt_refuses(xml)
    assert refused is None, refused

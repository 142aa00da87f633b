"""A guest's persistent definition: how it is read, compared, checked against the schema, defined.

Safety rules of the conversion live on these: the new XML is defined only while the definition it
was made from is still in place (``same_xml``), with libvirt's own schema check
(``define_validated``), and only when the transform added no schema error (``schema_errors``).
"""

from __future__ import annotations

import libvirt
from lxml import etree

from vfpool_tui.core.virt import connection, xmlutil

XML_INACTIVE_SECURE = libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE


def same_xml(a: str | None, b: str | None) -> bool:
    """The same document (libvirt prints a definition the same way each time; c14n for safety)."""
    if a is None or b is None:
        return a is b
    if a == b:
        return True
    try:
        ca = etree.tostring(xmlutil.parse(a), method="c14n")
        cb = etree.tostring(xmlutil.parse(b), method="c14n")
    except xmlutil.XmlError:
        return False
    return ca == cb


def define_validated(conn, xml: str):
    """Define with libvirt's own schema check (the daemon's version, which may differ from the
    schemas on this machine); falls back to a plain define where the flag is not supported."""
    flag = getattr(libvirt, "VIR_DOMAIN_DEFINE_VALIDATE", 0)
    if flag:
        try:
            return conn.defineXMLFlags(xml, flag)
        except (AttributeError, TypeError):
            pass
        except libvirt.libvirtError as err:
            if connection.error_code(err) not in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_INVALID_ARG):
                raise
    return conn.defineXML(xml)


def schema_errors(new_xml: str, old_xml: str) -> list[str]:
    """Schema errors the transform introduced (errors already in the original are not ours)."""
    try:
        new_errors = xmlutil.validate(new_xml, "domain")
    except FileNotFoundError:
        return []
    if not new_errors:
        return []
    strip = lambda errs: {e.split(": ", 1)[-1] for e in errs}  # noqa: E731
    old_errors = strip(xmlutil.validate(old_xml, "domain"))
    return [e for e in new_errors if e.split(": ", 1)[-1] not in old_errors]

"""lxml plumbing shared by every XML module: one safe parser, one serialiser, RelaxNG validation.

All libvirt XML in this project is read and written through lxml, never through string formatting.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

from lxml import etree

SCHEMA_DIR = Path("/usr/share/libvirt/schemas")


class XmlError(ValueError):
    """XML that cannot be read. ``str()`` is one line for the user."""


_local = threading.local()


def _parser() -> etree.XMLParser:
    """One parser per thread (lxml parsers must not be shared between threads).

    libvirt XML never needs entities, DTDs or the network; refuse them (XXE, billion laughs).
    """
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
        _local.parser = parser
    return parser


def parse(text: str | bytes, what: str = "XML") -> etree._Element:
    if isinstance(text, str):
        text = text.encode("utf-8")
    try:
        root = etree.fromstring(text, _parser())
    except etree.XMLSyntaxError as err:
        raise XmlError(f"malformed {what}: {err}") from None
    if root is None:
        raise XmlError(f"empty {what}")
    return root


def to_string(element: etree._Element, pretty: bool = False) -> str:
    if pretty:
        element = _reindented(element)
    return etree.tostring(element, encoding="unicode")


def _reindented(element: etree._Element) -> etree._Element:
    import copy

    clone = copy.deepcopy(element)
    etree.indent(clone, space="  ")
    return clone


def text_of(element: etree._Element | None, path: str, attr: str | None = None) -> str | None:
    """Attribute ``attr`` (or the text) of the first match of ``path`` under ``element``."""
    if element is None:
        return None
    found = element.find(path)
    if found is None:
        return None
    return found.get(attr) if attr else found.text


@functools.lru_cache(maxsize=None)
def _relaxng(kind: str) -> etree.RelaxNG:
    path = SCHEMA_DIR / f"{kind}.rng"
    if not path.exists():
        raise FileNotFoundError(f"libvirt schema {path} not found (Debian: apt-get install libvirt-clients)")
    return etree.RelaxNG(etree.parse(str(path)))


def validate(xml: str | etree._Element, kind: str) -> list[str]:
    """Validate against libvirt's own RelaxNG schema (``domain``, ``network``, ...).

    Returns the list of errors, empty when valid. Raises FileNotFoundError without the schemas.
    """
    schema = _relaxng(kind)
    root = parse(xml, kind) if isinstance(xml, str) else xml
    if schema.validate(etree.ElementTree(root)):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]

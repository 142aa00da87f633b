"""Network state for libvirt test-driver nodes (the demo, tests, benchmarks).

libvirt's test driver starts every network of a ``test:///path/node.xml`` active with autostart off,
and every connection starts from the file again. A node file may carry the intended state in a
``<vfpool:state>`` block (which the test driver ignores); ``apply_node_state`` applies it to a newly
opened connection so inactive and autostarted pools look as they would on a real host.
"""

from __future__ import annotations

from pathlib import Path

import libvirt
from lxml import etree

STATE_NS = "https://vfpool-tui.invalid/demo-state/1"


def read_node_state(node_xml: str | Path) -> dict[str, dict[str, bool]]:
    """The ``<vfpool:state>`` block: {network: {"active": bool, "autostart": bool}}."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    tree = etree.parse(str(node_xml), parser)
    out = {}
    for el in tree.iterfind(f"{{{STATE_NS}}}state/{{{STATE_NS}}}network"):
        out[el.get("name")] = {"active": el.get("active") == "yes", "autostart": el.get("autostart") == "yes"}
    return out


def node_path_of(uri: str | None) -> Path | None:
    """The node file of a ``test:///path`` URI, or None for any other URI (and test:///default)."""
    if not uri or not uri.startswith("test:///") or uri == "test:///default":
        return None
    path = Path(uri[len("test://"):].split("?", 1)[0])
    return path if path.is_file() else None


def apply_node_state(conn: libvirt.virConnect, node_xml: str | Path) -> None:
    for name, st in read_node_state(node_xml).items():
        try:
            net = conn.networkLookupByName(name)
            if not st["active"] and net.isActive():
                net.destroy()
            net.setAutostart(1 if st["autostart"] else 0)
        except libvirt.libvirtError:
            continue  # a state line for a network the node does not have

"""The demo's CLI state: one place that every ``--demo`` command shares, journal included.

libvirt's test driver starts each process from its node file again, so without this a
``convert --demo`` was forgotten by the next ``rollback --demo``. CLI commands run with ``--demo``
use ``state_dir()`` (``$XDG_RUNTIME_DIR/vfpool-tui-demo``, else ``/tmp/vfpool-tui-demo-UID``: a
temporary directory, private to the user; ``VFPOOL_DEMO_STATE`` overrides it):

- ``node.xml``: the demo hypervisor as the last command left it (a copy of ``demo/node.xml`` at first);
  a command that changes guests or pools writes it back before closing libvirt (``save``);
- ``journal/``: the conversion journal of the demo.

``vfpool-tui demo-reset`` removes the directory (the next ``--demo`` command starts from the shipped
demo again). The TUI's ``--demo`` keeps its state in its own process, as before.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import libvirt
from lxml import etree

from vfpool_tui.core.virt import node_state, xmlutil
from vfpool_tui.demo import NODE_XML

TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"
SHUT_OFF = "5"  # <test:runstate>: VIR_DOMAIN_SHUTOFF


def state_dir() -> Path:
    """A temporary directory of this user's: ``$XDG_RUNTIME_DIR/vfpool-tui-demo`` (a per-user tmpfs,
    gone at logout), else ``/tmp/vfpool-tui-demo-UID``; never in the home directory, /etc or /var."""
    override = os.environ.get("VFPOOL_DEMO_STATE")
    if override:
        return Path(override)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "vfpool-tui-demo"
    return Path("/tmp") / f"vfpool-tui-demo-{os.getuid()}"


def _private_dir(path: Path) -> None:
    """Create ``path`` 0700, or accept it only if it is a real directory of ours (not a link
    another user planted in /tmp)."""
    try:
        path.mkdir(parents=True, mode=0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    import stat

    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise PermissionError(f"{path} is not a private directory of this user: remove it, or set "
                              "VFPOOL_DEMO_STATE to another place")


def node_path() -> Path:
    return state_dir() / "node.xml"


def journal_dir() -> Path:
    return state_dir() / "journal"


def prepare() -> str:
    """Create the state (from the shipped demo) when there is none; the libvirt URI to open."""
    path = node_path()
    _private_dir(path.parent)
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        shutil.copyfile(NODE_XML, tmp)
        os.replace(tmp, path)
    return f"test://{path}"


def is_state_uri(uri: str | None) -> bool:
    return bool(uri) and node_state.node_path_of(uri) == node_path()


def save(conn) -> None:
    """Write what libvirt holds now (every domain's definition and run state, every network and
    whether it is active and autostarted) back to ``node.xml``, atomically."""
    path = node_path()
    root = xmlutil.parse(path.read_bytes(), "demo node")
    for el in list(root):
        if el.tag in ("domain", "network") or el.tag == f"{{{node_state.STATE_NS}}}state":
            root.remove(el)
    anchor = 0
    nets = conn.listAllNetworks()
    for net in nets:
        root.insert(anchor, xmlutil.parse(net.XMLDesc(0), "network XML"))
        anchor += 1
    for dom in conn.listAllDomains():
        el = xmlutil.parse(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE),
                           "domain XML")
        if not dom.isActive():
            etree.SubElement(el, f"{{{TEST_NS}}}runstate").text = SHUT_OFF
        root.insert(anchor, el)
        anchor += 1
    st = etree.Element(f"{{{node_state.STATE_NS}}}state", nsmap={"vfpool": node_state.STATE_NS})
    for net in nets:
        etree.SubElement(st, f"{{{node_state.STATE_NS}}}network", name=net.name(),
                         active="yes" if net.isActive() else "no",
                         autostart="yes" if net.autostart() else "no")
    root.insert(anchor, st)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(etree.tostring(root, encoding="utf-8") + b"\n")
    os.replace(tmp, path)


def reset() -> Path | None:
    """Remove the shared demo state; the directory removed, or None when there was none."""
    d = state_dir()
    if not d.exists():
        return None
    shutil.rmtree(d)
    return d

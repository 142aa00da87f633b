"""Opening a libvirt connection the way virsh would, with errors as one plain line.

- ``uri=None``: ``LIBVIRT_DEFAULT_URI`` when set; else, as root, libvirt's own choice (its config,
  then ``qemu:///system``); else (not root) ``qemu:///system``, as virt-manager does: libvirt's own
  default for a user is ``qemu:///session``, an empty per-user daemon it would spawn, where no
  hypervisor guest and no hostdev pool lives.
- Not root (and not asked for read-write): the connection is opened read-only.
- Every connection to a ``test:///file`` URI starts from the file again: a program keeps ONE
  connection for its whole run (and the node's ``<vfpool:state>`` is applied on open).
- libvirt's default error handler prints every error to stderr; it is silenced once here, and every
  ``libvirtError`` reaching the user goes through ``describe()``.
"""

from __future__ import annotations

import os
import threading

import libvirt

from vfpool_tui.core.virt import node_state

_silenced = False
_silence_lock = threading.Lock()


class LibvirtUnavailable(RuntimeError):
    """libvirt could not be reached, or the URI is bad. ``str()`` is one line for the user."""


def silence_libvirt_stderr() -> None:
    global _silenced
    with _silence_lock:
        if not _silenced:
            libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
            _silenced = True


def is_remote_uri(uri: str | None) -> bool:
    """Does ``uri`` reach another machine? (``qemu+ssh://root@hv2/system``, ``qemu://hv2/system``,
    ``qemu+tcp://...``): a hostname, or a network transport. ``qemu:///system``, ``test:///...`` and
    ``qemu+unix:///...`` stay on this machine."""
    if not uri:
        return False
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    transport = parts.scheme.partition("+")[2]
    if transport and transport not in ("unix", "ext"):
        return True  # ssh, libssh, libssh2, tcp, tls
    host = (parts.hostname or "").lower()
    return bool(host) and host not in ("localhost", "127.0.0.1", "::1")


def is_root() -> bool:
    return os.geteuid() == 0


def describe(err: BaseException) -> str:
    """One line for an operator: libvirt's own message without its trailing noise."""
    if isinstance(err, libvirt.libvirtError):
        msg = err.get_error_message() or str(err)
    else:
        msg = str(err) or type(err).__name__
    return " ".join(msg.split())


def error_code(err: BaseException) -> int | None:
    if isinstance(err, libvirt.libvirtError):
        return err.get_error_code()
    return None


SYSTEM_URI = "qemu:///system"


def named_uri(uri: str | None) -> str | None:
    """The URI as named: the one given, else ``LIBVIRT_DEFAULT_URI``; None: libvirt's own choice
    (on this machine)."""
    return uri or os.environ.get("LIBVIRT_DEFAULT_URI") or None


def effective_uri(uri: str | None) -> str | None:
    """The URI to open: the one given, else ``LIBVIRT_DEFAULT_URI`` (libvirt reads it: None), else
    root: None (libvirt's choice), not root: ``qemu:///system`` (never a spawned session daemon)."""
    if uri:
        return uri
    if os.environ.get("LIBVIRT_DEFAULT_URI") or is_root():
        return None
    return SYSTEM_URI


def open_connection(uri: str | None = None, readonly: bool | None = None) -> libvirt.virConnect:
    """Open libvirt. ``readonly=None``: read-only unless running as root.

    A test-driver node file (the demo, tests) is private to this process, so it is always opened
    read-write: its stated network state must be applied, and root has no meaning for it. With
    ``--readonly`` the program itself disables every change.
    """
    silence_libvirt_stderr()
    uri = effective_uri(uri)
    node = node_state.node_path_of(uri)
    if node is not None:
        readonly = False
    elif readonly is None:
        readonly = not is_root()
    try:
        conn = libvirt.openReadOnly(uri) if readonly else libvirt.open(uri)
    except libvirt.libvirtError as err:
        where = named_uri(uri) or "the default URI"
        hint = ""
        if not readonly and not is_root():
            hint = " (not root: try sudo, or --readonly)"
        raise LibvirtUnavailable(f"cannot connect to libvirt at {where}: {describe(err)}{hint}") from None
    if conn is None:  # older bindings returned None instead of raising
        raise LibvirtUnavailable(f"cannot connect to libvirt at {uri or 'the default URI'}")
    if node is not None:  # a test-driver node (demo, tests): bring its networks to their stated state
        node_state.apply_node_state(conn, node)
    return conn


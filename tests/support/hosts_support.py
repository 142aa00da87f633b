"""What the several-hosts tests share: ``bench/gen_host.py`` as a module (a script beside the
package, not in it), a small set of generated hosts, and a libvirt socket that never answers."""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
from pathlib import Path

from paths import ROOT

_spec = importlib.util.spec_from_file_location("gen_host", ROOT / "bench" / "gen_host.py")
gen_host = sys.modules.get("gen_host")
if gen_host is None:
    gen_host = importlib.util.module_from_spec(_spec)
    sys.modules["gen_host"] = gen_host
    _spec.loader.exec_module(gen_host)

SHAPES = ((2, 8), (3, 14), (4, 20))  # (PFs, guests) of h0, h1, h2: each host differs


def generate_hosts(base: Path, shapes=SHAPES, vfs: int = 4) -> list[str]:
    """``test://`` URIs of generated hosts ``base/h0``, ``base/h1``, ... with their node devices
    (for ``--discovery libvirt``)."""
    uris = []
    for i, (pfs, guests) in enumerate(shapes):
        _, node = gen_host.generate(Path(base) / f"h{i}", pfs=pfs, vfs=vfs, guests=guests, nodedevs=True)
        uris.append(f"test://{node}")
    return uris


class SilentLibvirtd:
    """A unix socket that accepts connections and never answers: libvirt's open waits on it (a real
    slow host, as far as the client can tell). ``close()`` makes the waiting open fail."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.uri = f"qemu+unix:///system?socket={self.path}"
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(self.path)
        self.server.listen(8)
        self.clients: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.clients.append(client)

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.server.close()

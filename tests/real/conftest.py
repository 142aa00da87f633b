"""The real-daemon tier: a private libvirtd 9.0 + virtlogd + tiny TCG QEMU guests per test.

``tests/support/private_libvirtd.py`` runs the daemons as root in private mount, PID and network
namespaces, with their config, sockets, state and logs under a temp dir; nothing is written to the
host's /etc, /run or /var (checked below, at the end of the session), and every process it started
is gone at the end (checked with ps).

Where the tier cannot run (not root, a package missing, namespaces refused) the tier is skipped with
ONE line in pytest's summary: ``real-daemon tier: <why>``. ``tools/bootstrap.sh``
installs the packages; ``.ci/run`` runs it as root.

What stands in for what this machine lacks: it has no SR-IOV NIC and no IOMMU. The daemon's NICs
are veth pairs (no SR-IOV); hard-coded VFs are PCI addresses that do not exist (libvirt defines such
guests, and starting them fails for real, code 67: no IOMMU); where a test needs SR-IOV hardware in
the product's model (a PF with VFs to build a pool plan from) it is ``_scan_host.holders_host()``,
and the test says so.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile

import libvirt
import pytest
from real_daemon import WHY_NOT, wait_for

import private_libvirtd as pl

if WHY_NOT is not None:
    # one skip line for the whole tier: test_private_daemon.py skips as a module, saying why; the
    # other modules are not even collected
    collect_ignore_glob = ["test_live_daemon.py", "test_real_*.py"]

# host paths a privileged libvirtd would write if it escaped its namespaces
HOST_PATHS = ("/run/libvirt", "/var/lib/libvirt", "/var/log/libvirt", "/var/cache/libvirt",
              "/etc/libvirt", "/run/mount", "/etc/passwd", "/etc/group", "/var/lib/vfpool-tui")


def pytest_collection_modifyitems(config, items):
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.real_daemon)


def _host_state() -> dict:
    """What the host looks like where the daemon must not write: paths (tree, mtimes) and links."""
    state = {}
    for top in HOST_PATHS:
        if not os.path.lexists(top):
            state[top] = None
            continue
        entries = []
        for dirpath, dirnames, filenames in os.walk(top):
            for name in sorted(dirnames + filenames):
                path = os.path.join(dirpath, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                entries.append((path, st.st_mtime_ns, st.st_size))
        st = os.lstat(top)
        state[top] = (st.st_mtime_ns, st.st_size, tuple(entries))
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    state["links"] = sorted(line.split(":")[1].strip().split("@")[0] for line in links.splitlines())
    return state


@pytest.fixture(scope="session")
def real_tier():
    """Skips the tier with its one line, or yields a registry of the daemons started; at the end every
    one is stopped, none of their processes is left (ps), and the host paths are as before."""
    if WHY_NOT is not None:
        pytest.skip(f"real-daemon tier: {WHY_NOT}")
    from vfpool_tui.core.virt.connection import silence_libvirt_stderr
    from vfpool_tui.core.virt.libvirt_events import ensure_event_loop

    silence_libvirt_stderr()
    assert ensure_event_loop()  # before any connection: remote connections only deliver events then
    before = _host_state()
    daemons: list[pl.PrivateLibvirtd] = []
    yield daemons
    for d in daemons:
        d.stop()
    pids = sorted({p for d in daemons for p in d.pids_seen})
    if pids:
        def running() -> list[str]:  # a zombie (stat Z) is dead, only not reaped yet by its parent
            out = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-p", ",".join(map(str, pids))],
                                 capture_output=True, text=True).stdout
            return [line for line in out.splitlines() if not line.split()[1].startswith("Z")]

        left = wait_for(lambda: not running(), 5) or running()
        assert left is True, "processes of the private daemons still running:\n" + "\n".join(left)
    after = _host_state()
    changed = [k for k in before if before[k] != after[k]]
    assert not changed, f"the real-daemon tier changed the host: {changed}"


@pytest.fixture(autouse=True)
def _tier(real_tier):
    return real_tier


@pytest.fixture(scope="session")
def caps_cache(real_tier, tmp_path_factory):
    """/var/cache/libvirt shared by the session's daemons: QEMU's capabilities are probed once (~4 s)."""
    return tmp_path_factory.mktemp("libvirt-cache")


@contextlib.contextmanager
def _private_daemon(real_tier, caps_cache):
    # short (unix socket paths are limited to 107 bytes) and traversable by a non-root client
    root = tempfile.mkdtemp(prefix="vfpl-")
    os.chmod(root, 0o755)
    daemon = pl.PrivateLibvirtd(root, cache_dir=caps_cache)
    real_tier.append(daemon)
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def daemon(real_tier, caps_cache):
    with _private_daemon(real_tier, caps_cache) as d:
        yield d


@pytest.fixture(scope="module")
def module_daemon(real_tier, caps_cache):
    with _private_daemon(real_tier, caps_cache) as d:
        yield d


@pytest.fixture
def conn(daemon):
    c = libvirt.open(daemon.uri)
    yield c
    try:
        c.close()
    except libvirt.libvirtError:
        pass

"""The built-in demo hypervisor.

``node.xml`` is a libvirt test-driver node (guests, networks) and ``host.umockdev`` an emulated
SR-IOV host for the real pyudev/sysfs code. ``--demo`` runs the program again under
``umockdev-run`` with that device description, then points libvirt at ``test:///.../node.xml``.
The test driver keeps its state in the process, so changes made in the demo vanish on exit.

Everything the demo writes goes under ONE private directory (``demo_paths()``, mode 0700, removed
when the demo ends; ``enter_demo`` waits for the demo process to remove it): the conversion journal
and its lock, the udev rules of ``--persist-numvfs`` (under ``<private>/root/etc/udev/rules.d``),
and sysfs. Under umockdev-run,
``/sys`` is umockdev's testbed, which ``enter_demo`` has umockdev-run create inside the private
directory (``TMPDIR``); anywhere else (the in-process tests) the demo's sysfs is ``<private>/sys``.
Nothing of the demo is ever written to the host's /etc, /sys or /var.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent
NODE_XML = DEMO_DIR / "node.xml"
HOST_UMOCKDEV = DEMO_DIR / "host.umockdev"
ACTIVE_ENV = "VFPOOL_DEMO_ACTIVE"
ARGV_ENV = "VFPOOL_DEMO_ARGV"  # the arguments, as JSON: umockdev-run's own option parsing never sees them
PRIVATE_ENV = "VFPOOL_DEMO_PRIVATE"  # the demo's private directory, made before the re-exec


@dataclass(frozen=True)
class DemoPaths:
    """Every path the demo writes: all inside ``private``."""

    private: Path
    umockdev: bool  # /sys is umockdev's testbed (itself inside ``private``)

    @property
    def journal_dir(self) -> Path:  # the conversion journal, and its lock file
        return self.private / "journal"

    @property
    def udev_root(self) -> str:  # udev rules go to <udev_root>/etc/udev/rules.d
        return str(self.private / "root")

    @property
    def sysfs_root(self) -> str:  # sriov_numvfs writes
        return "/sys" if self.umockdev else str(self.private / "sys")


_paths: DemoPaths | None = None


def _private_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="vfpool-tui-demo-"))  # mode 0700


def demo_paths() -> DemoPaths:
    """This demo process's paths: the private directory handed over by ``enter_demo``, or a new one.

    The directory is removed when the process ends (the demo's libvirt state ends with it too)."""
    global _paths
    if _paths is None:
        raw = os.environ.get(PRIVATE_ENV)
        if raw and os.path.isdir(raw) and os.stat(raw).st_uid == os.getuid():
            private = Path(raw)  # enter_demo's: it removes the directory when this process ends
        else:
            private = _private_dir()
            atexit.register(shutil.rmtree, private, True)
        (private / "journal").mkdir(mode=0o700, exist_ok=True)
        _paths = DemoPaths(private=private, umockdev=under_umockdev())
    return _paths


def demo_uri() -> str:
    return f"test://{NODE_XML}"


def demo_argv() -> list[str] | None:
    """The arguments handed over by ``enter_demo``'s re-exec, if this is that process."""
    raw = os.environ.pop(ARGV_ENV, None)
    if raw is None or os.environ.get(ACTIVE_ENV) != "1":
        return None
    return [str(a) for a in json.loads(raw)]


def start_emulated_kernel():
    """Under umockdev: VFs appear in the testbed when ``sriov_numvfs`` is written (``kernel.py``)."""
    testbed = os.environ.get("UMOCKDEV_DIR")
    if not testbed:
        return None
    from vfpool_tui.demo.kernel import SriovEmulator

    return SriovEmulator(Path(testbed) / "sys").start()


def under_umockdev() -> bool:
    return bool(os.environ.get("UMOCKDEV_DIR"))


def enter_demo(argv: list[str]) -> str:
    """Make sure we run under umockdev with the demo host; return the demo libvirt URI."""
    if under_umockdev() or os.environ.get(ACTIVE_ENV) == "1":
        return demo_uri()
    from vfpool_tui.errors import CommandError

    runner = shutil.which("umockdev-run")
    if runner is None:
        raise CommandError(
            "the demo needs umockdev-run to emulate SR-IOV hardware: apt-get install umockdev", 2
        )
    # the arguments travel in the environment: umockdev-run converts its command line through the
    # locale and refuses non-ASCII (a guest named db-ünïcode) under LANG=C
    # umockdev-run makes its testbed (the demo's /sys) in TMPDIR: inside the private directory
    private = _private_dir()
    env = dict(os.environ, **{ACTIVE_ENV: "1", ARGV_ENV: json.dumps(argv), PRIVATE_ENV: str(private),
                              "TMPDIR": str(private)})
    cmd = [runner, "-d", str(HOST_UMOCKDEV), "--", sys.executable, "-m", "vfpool_tui"]
    sys.stdout.flush()
    sys.stderr.flush()
    raise SystemExit(_run_and_clean_up(cmd, env, private))


def _run_and_clean_up(cmd: list[str], env: dict[str, str], private: Path) -> int:
    """Run the demo process (same terminal), then remove the private directory, testbed and all.

    This process only waits: Ctrl-C and Ctrl-\\ reach the demo process from the terminal (same
    process group) and are ignored here; a SIGTERM or SIGHUP sent to this process is passed on."""
    import signal
    import subprocess

    proc = subprocess.Popen(cmd, env=env)

    def forward(signum, _frame):
        proc.send_signal(signum)

    old = {sig: signal.signal(sig, handler) for sig, handler in (
        (signal.SIGINT, signal.SIG_IGN), (signal.SIGQUIT, signal.SIG_IGN),
        (signal.SIGTERM, forward), (signal.SIGHUP, forward))}
    try:
        rc = proc.wait()
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        shutil.rmtree(private, ignore_errors=True)
    return 128 - rc if rc < 0 else rc

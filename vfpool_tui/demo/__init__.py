"""The built-in demo hypervisor.

``node.xml`` is a libvirt test-driver node (guests, networks) and ``host.umockdev`` an emulated
SR-IOV host for the real pyudev/sysfs code. ``--demo`` re-executes the program under
``umockdev-run`` with that device description, then points libvirt at ``test:///.../node.xml``.
The test driver keeps its state in the process, so changes made in the demo vanish on exit.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent
NODE_XML = DEMO_DIR / "node.xml"
HOST_UMOCKDEV = DEMO_DIR / "host.umockdev"
ACTIVE_ENV = "VFPOOL_DEMO_ACTIVE"
ARGV_ENV = "VFPOOL_DEMO_ARGV"  # the arguments, as JSON: umockdev-run's own option parsing never sees them


def demo_uri() -> str:
    return f"test://{NODE_XML}"


def demo_argv() -> list[str] | None:
    """The arguments handed over by ``enter_demo``'s re-exec, if this is that process."""
    raw = os.environ.pop(ARGV_ENV, None)
    if raw is None or os.environ.get(ACTIVE_ENV) != "1":
        return None
    return [str(a) for a in json.loads(raw)]


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
    env = dict(os.environ, **{ACTIVE_ENV: "1", ARGV_ENV: json.dumps(argv)})
    cmd = [runner, "-d", str(HOST_UMOCKDEV), "--", sys.executable, "-m", "vfpool_tui"]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(runner, cmd, env)
    raise AssertionError("unreachable")  # pragma: no cover

"""``vfpool-tui`` without a command: build the app from the command-line arguments and run it.

When the app will take a first look at this machine (one host, its cards read from this sysfs; not
the demo), Textual and the app are imported only after that look has begun in a child process
(``core.head_start``): it runs beside those imports (~200 ms on one core) instead of after.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any


def settings_fields(args: argparse.Namespace) -> dict[str, Any]:
    """``TuiSettings``' fields that come from the command line."""
    demo = bool(getattr(args, "demo", False))
    readonly: bool | None = True if getattr(args, "readonly", False) else None
    if demo and readonly is None:
        readonly = False  # the demo's test:/// driver needs no root to change things
    journal = getattr(args, "journal_dir", None)
    connects = tuple(getattr(args, "connects", None) or ())
    discovery = getattr(args, "discovery", None)
    return {"uri": getattr(args, "connect", None), "readonly": readonly, "demo": demo,
            "hosts": connects if len(connects) > 1 else (),
            "discovery": None if discovery in (None, "auto") else discovery,
            "journal_dir": Path(journal) if journal else None}


def begin_first_look(fields: dict[str, Any]) -> bool:
    """Begin the app's first look now (``core.head_start``), when the app will take one: a single
    host (several: each is opened from the overview), not the demo (its emulated kernel's thread
    runs by now: no fork)."""
    if fields["demo"] or fields["hosts"]:
        return False
    from vfpool_tui.core import head_start
    from vfpool_tui.core.scan import first_look_of

    readonly = fields["readonly"]
    if readonly is None:  # as the host's session resolves it (tui.hosts.make_session)
        readonly = os.geteuid() != 0
    look = first_look_of(fields["uri"], readonly, fields["discovery"])
    return look is not None and head_start.begin(look)


def run_tui(args: argparse.Namespace) -> int:
    fields = settings_fields(args)
    begin_first_look(fields)
    from vfpool_tui.tui.app import TuiSettings, make_app  # Textual from here

    app = make_app(TuiSettings(**fields))
    result = app.run()
    code = int(result or 0)
    from vfpool_tui.tui.libvirt_thread import any_busy

    if any_busy():
        # a host's libvirt call still hangs (a connect that never answers): the terminal is given
        # back and every journal is on disk, so leave now rather than let the interpreter end
        # around a thread inside libvirt's C code (it crashed with SIGSEGV that way); atexit does
        # not run then: a first look nobody took is stopped here
        from vfpool_tui.core import head_start

        head_start.cancel_all()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code

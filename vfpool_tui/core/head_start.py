"""The TUI's first look at this machine, begun before the UI is imported.

``vfpool-tui`` spends its first ~200 ms importing Textual and its own screens, on one core. The
first look (``core.scan.first_look``: the cards from sysfs and every guest's definition from
libvirt; ~300 ms for 16 PFs with 1,024 VFs and 500 guests) needs none of it: begun in a forked
child before those imports (``begin``), it runs beside them instead of after them, and the app's
backend takes that child (``take``) instead of forking its own when it asks for the same look
(``core.scan.FirstLookOf``: the same URI and flags). The forked child is ``core.forked_call``'s:
any failure gives nothing and the backend reads as it always does.

A look nobody takes (the app failed to start, or asked for another host) is stopped and reaped
when the process ends.
"""

from __future__ import annotations

import atexit

from vfpool_tui.core.forked_call import ForkedCall, safe_to_fork
from vfpool_tui.core.scan import FirstLookOf

_begun: dict[FirstLookOf, ForkedCall] = {}


def begin(look: FirstLookOf) -> bool:
    """Fork a child taking ``look`` now, when this process is still single-threaded (else, or when
    the system refuses the fork: False, and the backend does as without it)."""
    if look in _begun or not safe_to_fork():
        return False
    call = ForkedCall.start(look)
    if call is None:
        return False
    if not _begun:
        atexit.register(cancel_all)
    _begun[look] = call
    return True


def take(look: FirstLookOf) -> ForkedCall | None:
    """The child begun for ``look``, now the caller's (once); None when none was."""
    return _begun.pop(look, None)


def cancel_all() -> None:
    """Stop and reap every child nobody took."""
    while _begun:
        _begun.popitem()[1].cancel()

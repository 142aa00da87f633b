"""Creating a hostdev pool network over a PF (``create``): the plan, then define, autostart and
start, undone in reverse order on failure.

Imports ``core.host``, ``core.virt`` and the base modules; never ``core.conversion`` or ``core.health``.
"""

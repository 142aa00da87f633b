"""What is wrong and why: the host's problems (``problems``) and VF exhaustion, capacity versus use
per pool and why a guest's start fails (``diagnose``).

Imports ``core.host``, ``core.virt`` and the base modules; never ``core.conversion`` or ``core.pools``.
"""

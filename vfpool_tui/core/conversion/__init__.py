"""Converting guests from hard-coded VFs to a pool: the plan and its refusals (``plan``,
``budget``), the XML transform (``transform``), the run with its shutdown, define, start, verify
and rollback (``engine``, ``options``, ``guest_run``, ``shutdown``, ``verify``, ``recover``), the
journal and the lock that make it survive a dropped session (``journal``, ``lock``), and what it
reports (``events``, ``command_hints``).

Imports ``core.host``, ``core.virt`` and the base modules; never ``core.health`` or ``core.pools``.
"""

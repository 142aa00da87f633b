"""Remedies the tool carries out for the problems it finds (issue 13), each planned first (a preview
with the guests that go down), confirmed by the caller, journalled, reported step by step:

- release leaked VFs (problem ``vfio-unused``): back to their host driver through libvirt's
  node-device API (``virNodeDeviceReAttach``), local or remote; refused for a VF any guest
  definition names (``release``);
- restart a stale pool (problem ``pool-stale``): its running guests shut down, ``net.destroy()``,
  ``net.create()``, the guests started again (``cycle``);
- grow a pooled PF: the guests holding its VFs shut down, its pool networks stopped, ``sriov_numvfs``
  0 then N, the VFs waited for, the networks and guests started again, optionally the udev rule
  (``cycle``); refused through libvirt discovery (a remote host's sysfs cannot be written).

``plans`` builds and refuses plans from a ``Scan``; ``records`` keeps each run's originals and
steps in the conversion journal's directory (``<journal>/remedies/``, under the same lock);
``cycle`` and ``release`` run them on the conversion engine's machinery (``RunReporting``'s step
events and journal lines, ``shutdown.shut_down`` with its timeouts and force-off, ``GuestRun``);
``resume`` finishes a run a dropped session left half-way.

Imports ``core.scan`` (it scans again right before acting), ``core.conversion``, ``core.pools``,
``core.host``, ``core.virt`` and the base modules. No UI here.
"""

"""`n`: the pool wizard. Pick a PF, enable VFs if needed, name the network, review, create.

One screen per step, each pushing the next (Esc dismisses back to the one before; the first and
the last close the wizard), all sharing ``base.PoolWizard`` and one ``base.WizardState``:

1. ``PickStep`` (pick.py): the PFs, ``pf_choices``, and why a PF cannot be picked;
2. ``VfsStep`` (vfs.py): how many VFs to enable, when the PF has none (or on ``v``);
3. ``NameStep`` (name.py): name, managed, VLAN, checked as typed (``name_problem``,
   ``vlan_problem``), the exact network XML beside them;
4. ``ReviewStep`` (review.py): ``plan_pool``'s plan and warnings, the udev rule offered, then
   ``ConfirmCreate`` (confirm.py), whose default is Cancel;
5. ``RunStep`` (run.py): ``execute``'s steps as they happen (``PoolWizard.StepUpdate``), the outcome.

The screens are a thin face on ``core.pools.create``; what they show comes from the plain functions
of ``tui/pool_wizard_view.py``. Everything that touches libvirt or sysfs (the network names, the
plan, which reads the schema and the udev rule file, the steps) runs on the app's single libvirt
thread through ``app.backend.call``. Names and XML from libvirt are shown as ``Text``/``Syntax``,
never as markup.
"""

from vfpool_tui.tui.pool_wizard_view import NAME, PICK, REVIEW, RUN, VFS
from vfpool_tui.tui.screens.pool_wizard.base import PoolWizard, WizardState
from vfpool_tui.tui.screens.pool_wizard.confirm import ConfirmCreate
from vfpool_tui.tui.screens.pool_wizard.name import NameStep
from vfpool_tui.tui.screens.pool_wizard.pick import PickStep
from vfpool_tui.tui.screens.pool_wizard.review import ReviewStep
from vfpool_tui.tui.screens.pool_wizard.run import RunStep
from vfpool_tui.tui.screens.pool_wizard.vfs import VfsStep

__all__ = ["NAME", "PICK", "REVIEW", "RUN", "VFS", "ConfirmCreate", "NameStep", "PickStep", "PoolWizard",
           "ReviewStep", "RunStep", "VfsStep", "WizardState"]

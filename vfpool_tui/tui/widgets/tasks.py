"""The task list beside the PFs (nmtui style): each task shows its key and whether it can run."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option


@dataclass(frozen=True)
class Task:
    action: str  # app action name
    key: str
    title: str
    note: str = ""  # "read-only", "not available yet", "start here"
    enabled: bool = True
    highlight: bool = False


def app_tasks(readonly: bool, no_pool: bool, problems: int) -> tuple[Task, ...]:
    """The app's tasks; on a host with PFs and no pool yet, creating one is where to start."""

    def gate(action: str, key: str, title: str, start_here: bool = False) -> Task:
        if readonly:
            return Task(action, key, title, "read-only", enabled=False)
        return Task(action, key, title, "◀ start" if start_here else "", highlight=start_here)

    return (
        gate("new_pool", "n", "Create a pool", start_here=no_pool),
        gate("convert", "c", "Convert guests"),
        Task("troubleshoot", "t", "Troubleshoot", f"!{problems}" if problems else ""),
        Task("view('guests')", "g", "Guests"),
        Task("view('pools')", "o", "Pools"),
        Task("help", "?", "Help & keys"),
    )


class TasksPanel(OptionList):
    DEFAULT_CSS = """
    TasksPanel { height: auto; }
    """

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._tasks: tuple[Task, ...] = ()

    def set_tasks(self, tasks: tuple[Task, ...]) -> None:
        if tasks == self._tasks:
            return
        keep = self.highlighted
        self._tasks = tasks
        self.clear_options()
        self.add_options([Option(_prompt(t), id=t.action) for t in tasks])
        if keep is not None and keep < len(tasks):
            self.highlighted = keep

    async def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            await self.app.run_action(event.option.id)


def _prompt(t: Task) -> Text:
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append(f"{t.key:>2} ", style="bold" if t.enabled else "dim")
    out.append(t.title, style=("bold reverse" if t.highlight else "") if t.enabled else "dim strike")
    if t.note:
        out.append(f" {t.note}", style="italic dim" if not t.highlight else "italic")
    return out

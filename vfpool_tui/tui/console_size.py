"""The app's Rich console told the app's size, so measuring a renderable asks the terminal nothing.

Rich's console asks the terminal its size (up to three ioctls: stdin, stdout, stderr) whenever it
builds its options, and Textual's ``measure`` does that for every renderable it measures: DataTable
measures every cell of the rows it gets (800 for the first VF and PF tables of a 500-guest host).
After each ioctl the UI thread waits for the GIL while a backend thread computes. The console's
size is the app's: said at mount and on each resize.
"""

from __future__ import annotations

from textual import events
from textual.geometry import Size


class ConsoleSized:
    """A mixin of the ``App``: its ``console`` has the app's size."""

    def on_mount(self) -> None:
        self._pin_console_size(self.size)

    def on_resize(self, event: events.Resize) -> None:
        self._pin_console_size(event.size)  # (runs before App's own handler takes the new size)

    def _pin_console_size(self, size: Size) -> None:
        self.console.size = (size.width, size.height)

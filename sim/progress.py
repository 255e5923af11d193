"""A progress bar on standard error, for long loops (evaluation, simulation)."""

import sys
import time

__all__ = ["Progress"]


class Progress:
    """Report ``done / total`` on standard error: a bar redrawn in place on a terminal, a line
    every 10 % otherwise (so logs stay short). Silent when ``enabled`` is false."""

    def __init__(self, total, *, label="", enabled=True, stream=None):
        self.total, self.label, self.enabled = total, label, enabled
        self.stream = stream or sys.stderr
        self.done, self.start, self._last_decile = 0, time.time(), -1

    def update(self, n, *, label=None):
        """Count ``n`` more done. A new ``label`` (what runs now, for a few long steps rather
        than many short ones) is always shown."""
        self.done += n
        if label is not None:
            self.label = label
        if not self.enabled or not self.total:
            return
        elapsed = time.time() - self.start
        if self.stream.isatty():
            filled = int(30 * self.done / self.total)
            # \x1b[K erases what a longer label left on the line
            self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] "
                              f"{self.done}/{self.total} {elapsed:.1f} s\x1b[K")
            if self.done >= self.total:
                self.stream.write("\n")
        else:
            decile = 10 * self.done // self.total
            if decile != self._last_decile or label is not None:
                self._last_decile = decile
                self.stream.write(f"{self.label} {self.done}/{self.total} ({elapsed:.1f} s)\n")
        self.stream.flush()

"""A progress bar for bulk operations that needs no extra dependency.

With ``tqdm`` installed, :class:`ProgressBar` draws through ``tqdm.auto`` (a widget in
notebooks that have ``ipywidgets``, a bar in terminals). Otherwise it draws a plain text bar with
``\\r`` on a terminal or in a notebook, and stays silent when output goes to a file or a pipe.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import time
from typing import Any, TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    """An ``on_progress`` callback that draws a progress bar.

    ```python
    report = await client.subaccounts.bulk_add_credit(
        amounts, on_progress=smspartner_async.ProgressBar("top-ups")
    )
    ```

    With ``tqdm`` installed (and ``use_tqdm`` left on) it draws through ``tqdm.auto``: a widget
    in notebooks, a bar in terminals; in a notebook without ``ipywidgets`` (where tqdm can draw
    no widget and warns) it draws its own text bar. Otherwise it writes a text bar to
    ``stream`` (standard error by default) when that is a terminal or a notebook, and nothing
    when output goes to a file or a pipe. It closes itself when ``done == total``.
    """

    def __init__(
        self, description: str = "", *, stream: TextIO | None = None, use_tqdm: bool = True
    ) -> None:
        self._description = description
        self._stream = stream if stream is not None else sys.stderr
        self._use_tqdm = use_tqdm and stream is None
        self._tqdm: Any = None
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._closed = False

    def __call__(self, done: int, total: int) -> None:
        if self._closed:
            return
        if self._use_tqdm and self._tqdm is None:
            self._tqdm = _make_tqdm(total, self._description)
            self._use_tqdm = self._tqdm is not None
        if self._tqdm is not None:
            self._tqdm.update(done - self._tqdm.n)
        elif self._visible():
            now = time.monotonic()
            # Redraw at most 20 times a second: drawing must not slow the run.
            if done == total or now - self._last_draw >= 0.05:
                self._last_draw = now
                self._stream.write("\r" + self.render(done, total, now - self._started))
                self._stream.flush()
        if done >= total:
            self.close()

    def close(self) -> None:
        """Finish the bar (end its line)."""
        if self._closed:
            return
        self._closed = True
        if self._tqdm is not None:
            self._tqdm.close()
        elif self._visible():
            self._stream.write("\n")
            self._stream.flush()

    def render(self, done: int, total: int, elapsed: float, width: int = 30) -> str:
        """The bar as text: ``label [#####.....] 50/100 2.0 s``."""
        filled = width if total <= 0 else min(width, width * done // total)
        label = f"{self._description} " if self._description else ""
        bar = "#" * filled + "." * (width - filled)
        return f"{label}[{bar}] {done}/{total} {elapsed:.1f} s"

    def _visible(self) -> bool:
        isatty = getattr(self._stream, "isatty", None)
        return bool(isatty and isatty()) or "ipykernel" in sys.modules


def _make_tqdm(total: int, description: str) -> Any:
    if "ipykernel" in sys.modules and importlib.util.find_spec("ipywidgets") is None:
        return None  # tqdm.auto would warn (TqdmWarning) and draw text: our own bar is text too
    try:
        auto = importlib.import_module("tqdm.auto")
    except ImportError:
        return None
    return auto.tqdm(total=total, desc=description or None, unit="item")

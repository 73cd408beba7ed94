"""Progress reporting that the library can call and only the CLI draws.

Library functions take a ``progress`` callable and never print: stdout must stay
exact for ``digitrec tutorial``. The CLI passes a `RichProgress`, which draws bars
on stderr; everyone else gets `null_progress`.

A progress callable is called as ``progress(description, completed, total, **info)``:
``description`` names the task (one bar each), ``completed`` counts steps done,
``total`` is the number expected (``None`` when unknown) and ``info`` carries
figures worth showing beside the bar, such as ``loss=0.12``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any, Protocol, TypeVar

__all__ = ["ProgressFn", "null_progress", "track", "RichProgress"]

T = TypeVar("T")


class ProgressFn(Protocol):
    """The signature every ``progress`` argument follows."""

    def __call__(self, description: str, completed: int, total: int | None, **info: Any) -> None: ...


def null_progress(description: str, completed: int, total: int | None, **info: Any) -> None:
    """A progress callable that reports nothing."""


def track(
    items: Iterable[T],
    progress: ProgressFn,
    description: str,
    total: int | None = None,
) -> Iterator[T]:
    """Yield ``items`` and report each one to ``progress``.

    Parameters
    ----------
    items : iterable
        What to go through.
    progress : ProgressFn
        Where to report.
    description : str
        The task's name.
    total : int, optional
        How many items; taken from ``len(items)`` when it has one.
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    progress(description, 0, total)
    done = 0
    for item in items:
        yield item
        done += 1
        progress(description, done, total)


class RichProgress:
    """A `ProgressFn` drawing one rich progress bar per task on stderr.

    Use it as a context manager. ``disable=True`` (``--quiet``, or stderr not a
    terminal when ``auto`` is used) turns drawing off without changing the caller.

    Parameters
    ----------
    disable : bool, default=False
        Draw nothing.
    """

    def __init__(self, disable: bool = False) -> None:
        self.disable = disable
        self._progress = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> RichProgress:
        if not self.disable:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=Console(file=sys.stderr),
                transient=False,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __call__(self, description: str, completed: int, total: int | None, **info: Any) -> None:
        if self._progress is None:
            return
        text = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items())
        task = self._tasks.get(description)
        if task is None:
            task = self._progress.add_task(description, total=total, info=text)
            self._tasks[description] = task
        self._progress.update(task, completed=completed, total=total, info=text)

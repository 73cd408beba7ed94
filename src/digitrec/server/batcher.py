"""Recognition off the event loop, in batches: the requests waiting are read together.

A request's image is queued; a recognition thread takes every image waiting (up to
`MAX_BATCH` images and `MAX_BATCH_BYTES`: a large photo is read alone), reads them
with one `Recognizer.recognize_batch` call and hands the answers back to the event
loop in one wake-up. Under load this is cheaper per request than a thread-pool hop
per image: the model runs once per batch, each step stays in the processor's caches,
and the event loop and the recognition thread trade the GIL once per batch instead
of once per request (docs/benchmarks.md). When requests come one at a time, a batch
is one image and nothing waits for anything.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from digitrec.preprocess import ImageSource

__all__ = ["Batcher", "MAX_BATCH", "MAX_BATCH_BYTES"]

#: The most images one thread reads in one go: a bound on how long the first of them
#: waits for the last (a canvas takes ~1 ms, so ~16 ms), with most of the saving won.
MAX_BATCH = 16
#: The most encoded bytes in one batch, the first image's aside: a phone photo of a few
#: MB (tens of milliseconds to read) goes alone, so that the canvases queued with it do
#: not wait for it to be answered with it.
MAX_BATCH_BYTES = 1_000_000


@dataclass
class _Job:
    recognizer: Any
    image: ImageSource
    digits: int | None
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    finish: Callable[[Any], Any] | None = None


class Batcher:
    """Recognition threads fed by one queue.

    Parameters
    ----------
    threads : int, default=1
        Recognition threads. With several, a thread takes its share of the waiting
        images, not all of them, so that slow images are read side by side.
    max_batch : int, default=MAX_BATCH
        The most images a thread reads in one go.
    """

    def __init__(self, threads: int = 1, max_batch: int = MAX_BATCH) -> None:
        self.max_batch = max(1, int(max_batch))
        self._jobs: deque[_Job] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._run, name=f"digitrec-recognize-{i}", daemon=True)
            for i in range(max(1, int(threads)))
        ]
        for thread in self._threads:
            thread.start()

    async def recognize(
        self,
        recognizer: Any,
        image: ImageSource,
        digits: int | None = None,
        finish: Callable[[Any], Any] | None = None,
    ) -> Any:
        """Read one image on a recognition thread.

        Parameters
        ----------
        recognizer : Recognizer
            Anything with ``recognize(image, digits=)``; its ``recognize_batch(images,
            digits=)`` reads the images of a batch together when it has one.
        image : ImageSource
        digits : int, optional
        finish : callable, optional
            Applied to the `Recognition` on the recognition thread too (making the
            JSON object, whose samples cost ~0.1 ms a digit, stays off the event loop).

        Returns
        -------
        Recognition, or what ``finish`` made of it
            Or the image's `DigitrecError`, raised here.
        """
        loop = asyncio.get_running_loop()
        job = _Job(recognizer, image, digits, loop.create_future(), loop, finish)
        with self._ready:
            if self._closed:
                raise RuntimeError("the recognition threads have stopped")
            self._jobs.append(job)
            self._ready.notify()
        return await job.future

    def close(self) -> None:
        """Stop the threads once the images already queued are read."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    def _take(self) -> list[_Job] | None:
        with self._ready:
            while not self._jobs and not self._closed:
                self._ready.wait()
            if not self._jobs:
                return None
            share = min(-(-len(self._jobs) // len(self._threads)), self.max_batch)
            taken = [self._jobs.popleft()]
            size = _size(taken[0].image)
            while len(taken) < share and size + _size(self._jobs[0].image) <= MAX_BATCH_BYTES:
                taken.append(self._jobs.popleft())
                size += _size(taken[-1].image)
            return taken

    def _run(self) -> None:
        while (jobs := self._take()) is not None:
            try:
                outcomes = [_finish(job, outcome) for job, outcome in zip(jobs, self._read(jobs))]
            except BaseException as exc:  # noqa: BLE001 - never leave a request waiting forever
                outcomes = [exc] * len(jobs)
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, Any]]] = {}
            for job, outcome in zip(jobs, outcomes):
                by_loop.setdefault(job.loop, []).append((job, outcome))
            for loop, done in by_loop.items():
                try:
                    loop.call_soon_threadsafe(_settle, done)
                except RuntimeError:  # that loop has closed: nobody is waiting any more
                    pass

    def _read(self, jobs: list[_Job]) -> list[Any]:
        """Each job's Recognition or exception, in order; jobs for one recognizer are read together."""
        from digitrec.recognizer import read_each

        outcomes: list[Any] = [None] * len(jobs)
        groups: dict[int, list[int]] = {}
        for index, job in enumerate(jobs):
            groups.setdefault(id(job.recognizer), []).append(index)
        for indices in groups.values():
            together = [jobs[i] for i in indices]
            read = read_each(together[0].recognizer, [j.image for j in together], [j.digits for j in together])
            for index, outcome in zip(indices, read):
                outcomes[index] = outcome
        return outcomes


def _finish(job: _Job, outcome: Any) -> Any:
    if job.finish is None or isinstance(outcome, BaseException):
        return outcome
    try:
        return job.finish(outcome)
    except Exception as exc:  # noqa: BLE001 - handed to the request, whose handler answers it
        return exc


def _size(image: Any) -> int:
    """An image's encoded size in bytes, as the server queues it (bytes, or a named BytesIO); 0 if unknown."""
    if isinstance(image, (bytes, bytearray)):
        return len(image)
    if isinstance(image, io.BytesIO):
        return image.getbuffer().nbytes
    return 0


def _settle(done: list[tuple[_Job, Any]]) -> None:
    for job, outcome in done:
        if job.future.done():  # the request was cancelled (its client went away)
            continue
        if isinstance(outcome, BaseException):
            job.future.set_exception(outcome)
        else:
            job.future.set_result(outcome)

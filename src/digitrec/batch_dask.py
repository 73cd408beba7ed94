"""The batch job on a Dask distributed cluster.

`digitrec.batch.recognize_many` comes here when given ``scheduler=``. Paths go
out in chunks, at most two per worker thread at a time; each worker loads the
model once (`_worker_recognizer` is cached per process, keyed by the
`digitrec.batch.ReaderSpec`: model, threshold and pair reader, and the bundles'
inodes and mtimes) and results come back, and are written, as chunks finish.

The workers open the images and the model themselves, so both must be at the
same path on every worker: a shared file system, or ``scheduler="local"``. A
shipped model given by name is found in each worker's own digitrec install.
Only this module imports dask, and only when a job runs.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

from digitrec.batch import ReaderSpec
from digitrec.errors import UsageError, require

__all__ = ["recognize_many_dask"]


@functools.lru_cache(maxsize=4)
def _worker_recognizer(spec: ReaderSpec, stamp: tuple[tuple[int, int] | None, ...]) -> Any:
    # Keyed by the bundles' stamps too (see `ReaderSpec.stamp`).
    return spec.load()


def _recognize_chunk(items: list[tuple[str, str]], spec: ReaderSpec, digits: int | None) -> list[dict[str, Any]]:
    """Run on a worker: recognise ``(path shown, path opened)`` pairs."""
    from digitrec.batch import recognize_chunk

    recognizer = _worker_recognizer(spec, spec.stamp())
    results = recognize_chunk(recognizer, [opened for _, opened in items], digits)
    for result, (shown, _) in zip(results, items):
        result["path"] = shown
    return results


def _connect(distributed: Any, scheduler: str, workers: int) -> tuple[Any, Any]:
    """A client (and the cluster it owns, or ``None``) for ``scheduler``."""
    if scheduler == "local":
        cluster = distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        return distributed.Client(cluster), cluster
    if not scheduler.startswith(("tcp://", "tls://", "ws://", "wss://", "inproc://", "ucx://")):
        raise UsageError(
            f"--scheduler {scheduler!r} is neither 'local' nor a scheduler address such as tcp://10.0.0.5:8786"
        )
    try:
        return distributed.Client(scheduler, timeout="20s"), None
    except (OSError, TimeoutError) as exc:
        raise UsageError(
            f"cannot reach the Dask scheduler at {scheduler} ({exc}); start it with: dask scheduler, "
            "and check the address and the firewall"
        ) from exc


def recognize_many_dask(
    items: Iterable[str],
    *,
    scheduler: str,
    spec: ReaderSpec | None = None,
    digits: int | None = None,
    workers: int = 1,
    chunk_size: int = 8,
) -> Iterator[dict[str, Any]]:
    """Recognise ``items`` on a Dask cluster; yield results in completion order.

    Parameters
    ----------
    items : iterable of str
        Image paths, as they should appear in the results.
    scheduler : str
        ``"tcp://HOST:PORT"`` of a running scheduler, or ``"local"`` to start a
        `distributed.LocalCluster` of ``workers`` single-threaded processes.
    spec : ReaderSpec, optional
        The model, threshold and pair reader each worker loads (default: the shipped ones).
    digits, chunk_size
        As in `digitrec.batch.recognize_many`.
    workers : int, default=1
        Worker processes of a local cluster; a remote cluster has its own.

    Returns
    -------
    iterator of dict
        The same objects `digitrec.batch.recognize_many` yields.
    """
    distributed = require("distributed", "batch")
    return _run(distributed, items, scheduler, spec or ReaderSpec(), digits, workers, chunk_size)


def _run(
    distributed: Any,
    items: Iterable[str],
    scheduler: str,
    spec: ReaderSpec,
    digits: int | None,
    workers: int,
    chunk_size: int,
) -> Iterator[dict[str, Any]]:
    from digitrec.batch import _chunks

    client, cluster = _connect(distributed, scheduler, workers)
    try:
        client.wait_for_workers(1, timeout=60)
        running = distributed.as_completed()
        max_in_flight, checked = _max_in_flight(client), time.monotonic()
        for chunk in _chunks(items, chunk_size):
            # Workers may have another working directory: send absolute paths.
            shown_opened = [(path, os.path.abspath(path)) for path in chunk]
            running.add(client.submit(_recognize_chunk, shown_opened, spec, digits, pure=False))
            if running.count() >= max_in_flight:
                yield from _collect(next(running))
                if time.monotonic() - checked > 5:
                    # Workers join and leave a real cluster while it runs.
                    max_in_flight, checked = _max_in_flight(client), time.monotonic()
        for future in running:
            yield from _collect(future)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _max_in_flight(client: Any) -> int:
    # Two chunks per worker thread: one running, one waiting, no more, so the
    # client's memory does not grow with the number of paths.
    return 2 * max(1, sum(client.nthreads().values()))


def _collect(future: Any) -> list[dict[str, Any]]:
    try:
        # A model that fails to load on a worker raises its DigitrecError here.
        return future.result()
    finally:
        future.release()

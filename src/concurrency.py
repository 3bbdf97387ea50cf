"""The one concurrency toolkit of the datasets: bounded submission, read-ahead, and keyed chains.

Every dataset reads several cursor chains at once under the client's shared rate limiter (one chain alone waits a
round trip per page and cannot reach the limit) and writes each chain to its own spool keyed for the table
writer's deterministic merge, so what the threads do never shows in the output. Four shapes cover them:

- ``BoundedExecutor``: a thread pool that holds at most ``limit`` unfinished tasks; ``submit()`` waits for a free
  place, so a producer (customers' search pages feeding attribute batches) cannot run ahead of the workers and
  memory stays flat. The first failure is raised from ``submit()`` or ``join()`` and cancels what has not started.
- ``ReadAhead``: an iterator run in its own thread up to ``ahead`` items ahead of its consumer (customers' search
  pages while the attribute batches are written).
- ``Interleaved``: several iterators (one per chain) read concurrently, at most ``active`` chains at a time and
  each at most ``ahead`` items ahead, handed to ONE consumer as ``(key, item)`` in arrival order (segment
  membership: pages wait as bytes and the consumer parses one page at a time).
- ``KeyedTasks``: keyed tasks on ``workers`` threads, lowest key first, where a task may add further tasks (a
  message window that splits its remaining range into several chains); ``run()`` returns the results by key.

Why by hand: ``concurrent.futures`` has no bounded submission, no read-ahead and no merge of iterators; these are
thin layers over it and ``queue``. No Keboola or HTTP imports: the benchmark and tests use it as is.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any, Generic, Self, TypeVar

__all__ = ["BoundedExecutor", "Interleaved", "KeyedTasks", "ReadAhead"]

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
R = TypeVar("R")

_POLL = 0.1  # seconds: how often a blocked producer looks whether it was stopped


class _End:
    __slots__ = ()


_END = _End()


class _Failure:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _close(iterator: object) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


# --------------------------------------------------------------------------------------------- bounded submission


class BoundedExecutor:
    """A thread pool of ``workers`` threads holding at most ``limit`` unfinished tasks (default: ``workers``).

    Use as a context manager: leaving it normally waits for every task (``join()``) and raises the first failure;
    leaving it with an exception cancels the tasks not yet started and waits for the running ones.
    """

    def __init__(self, workers: int, *, limit: int | None = None, name: str = "worker") -> None:
        self.workers = max(1, int(workers))
        self.limit = max(1, int(limit if limit is not None else self.workers))
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=name)
        self._pending: set[Future] = set()

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        """Run ``fn(*args, **kwargs)``; waits while ``limit`` tasks are unfinished; raises an earlier failure."""
        while len(self._pending) >= self.limit:
            self._settle(FIRST_COMPLETED)
        future = self._pool.submit(fn, *args, **kwargs)
        self._pending.add(future)
        return future

    def _settle(self, how: str) -> None:
        done, self._pending = wait(self._pending, return_when=how)
        for future in done:
            future.result()  # raises the task's exception

    def join(self) -> None:
        """Wait for every task submitted so far; raise the first failure."""
        while self._pending:
            self._settle(FIRST_EXCEPTION)

    def cancel(self) -> None:
        for future in self._pending:
            future.cancel()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            if exc_type is None:
                self.join()
        except BaseException:
            self.cancel()
            raise
        finally:
            if exc_type is not None:
                self.cancel()
            self._pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------------------------------------------- read-ahead


class ReadAhead(Generic[T]):
    """Iterate ``source`` in its own thread, up to ``ahead`` items ahead of the consumer.

    The producer's exception is raised in the consumer. ``stop()`` asks the producer to stop at its next item;
    ``close()`` (or leaving the ``with`` block) also waits for it, and the producer closes ``source``.
    """

    def __init__(self, source: Iterable[T], ahead: int = 1, *, name: str = "read-ahead") -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, int(ahead)))
        self._stopped = threading.Event()
        self._source = source
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        iterator = iter(self._source)
        try:
            for item in iterator:
                if not self._put(item):
                    return
            self._put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            self._put(_Failure(exc))
        finally:
            _close(iterator)

    def _put(self, item: object) -> bool:
        while not self._stopped.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        item = self._queue.get()
        if item is _END:
            self._queue.put(_END)  # stays at the end for a later call
            raise StopIteration
        if isinstance(item, _Failure):
            raise item.exc
        return item

    def stop(self) -> None:
        """Ask the producer to stop at its next item (does not wait: it may be inside a request)."""
        self._stopped.set()

    def close(self) -> None:
        """Stop the producer and wait for it (it closes ``source``)."""
        self._stopped.set()
        self._thread.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------------- interleave


class Interleaved(Generic[K, T]):
    """Read several chains (iterators) concurrently and hand their items to ONE consumer as ``(key, item)``.

    At most ``active`` chains are read at a time, started in the order given (put the longest first). A chain is
    at most ``ahead`` items ahead of the consumer, counting the item the consumer holds. That item's place is given
    back when the consumer calls ``release()`` or asks for the next item; with ``ahead=1`` a chain's iterator is
    therefore only resumed once the consumer is done with its last item (a paginating generator reads the cursor of
    the page it yielded: release that page once it is parsed). Items of one chain come in their order; how the
    chains interleave depends on timing, so key what you write by chain. A chain's exception is raised in the
    consumer and stops the others, and so does ``close()`` (or leaving the ``with`` block).
    """

    def __init__(self, chains: Sequence[tuple[K, Iterable[T]]], *, active: int, ahead: int = 1,
                 name: str = "chain") -> None:
        self._chains = list(chains)
        self._ahead = max(1, int(ahead))
        self._arrivals: queue.Queue = queue.Queue()
        self._stopped = threading.Event()
        self._held: threading.Semaphore | None = None
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(int(active), len(self._chains) or 1)),
                                        thread_name_prefix=name)
        for key, source in self._chains:
            self._pool.submit(self._produce, key, source, threading.Semaphore(self._ahead))

    def _produce(self, key: K, source: Iterable[T], places: threading.Semaphore) -> None:
        iterator = iter(source)
        try:
            while True:
                while not places.acquire(timeout=_POLL):
                    if self._stopped.is_set():
                        return
                if self._stopped.is_set():
                    return
                item = next(iterator, _END)
                self._arrivals.put((key, item, places))
                if item is _END:
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            self._arrivals.put((key, _Failure(exc), places))
        finally:
            _close(iterator)

    def release(self) -> None:
        """Done with the item last handed out: its chain may fetch its next item now."""
        held, self._held = self._held, None
        if held is not None:
            held.release()

    def __iter__(self) -> Iterator[tuple[K, T]]:
        remaining = len(self._chains)
        try:
            while remaining:
                self.release()
                key, item, places = self._arrivals.get()
                if item is _END:
                    remaining -= 1
                    continue
                if isinstance(item, _Failure):
                    raise item.exc
                self._held = places
                yield key, item
                item = None  # not kept alive while the next item is awaited
        finally:
            self.close()

    def close(self) -> None:
        self._stopped.set()
        self.release()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------------- keyed tasks


class KeyedTasks(Generic[K, R]):
    """Keyed tasks on ``workers`` threads, lowest key first; a running task may ``add()`` more.

    ``run()`` returns ``{key: result}`` sorted by key once no task is left, or raises the first failure (the tasks
    not yet started are dropped, the running ones finish first). Keys must be unique and comparable.
    """

    def __init__(self, workers: int, *, name: str = "task") -> None:
        self.workers = max(1, int(workers))
        self._name = name
        self._lock = threading.Lock()
        self._queued: list[tuple[Any, int, Callable[..., R], tuple]] = []
        self._order = itertools.count()
        self._keys: set = set()

    def add(self, key: K, fn: Callable[..., R], /, *args: Any) -> None:
        with self._lock:
            if key in self._keys:
                raise ValueError(f"task key {key!r} was added twice")
            self._keys.add(key)
            heapq.heappush(self._queued, (key, next(self._order), fn, args))

    def _next_task(self) -> tuple[Any, Callable[..., R], tuple] | None:
        with self._lock:
            if not self._queued:
                return None
            key, _, fn, args = heapq.heappop(self._queued)
            return key, fn, args

    def run(self) -> dict[K, R]:
        results: dict = {}
        running: dict[Future, Any] = {}
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=self._name) as pool:
            try:
                while True:
                    while len(running) < self.workers and (task := self._next_task()) is not None:
                        key, fn, args = task
                        running[pool.submit(fn, *args)] = key
                    if not running:
                        break
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        results[running.pop(future)] = future.result()
            except BaseException:
                with self._lock:
                    self._queued.clear()
                raise
        return dict(sorted(results.items()))

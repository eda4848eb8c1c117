"""Run a picklable function on untrusted input in a throw-away worker process, under a memory
ceiling and a time limit.

A parser given a hostile file may ask for hundreds of GB or never return, and some (Rust
libraries) abort the whole process instead of raising. Each job therefore runs in its own worker
(`concurrent.futures.ProcessPoolExecutor` of one process, used once), started from a
`forkserver` that imported the modules the jobs need once (`preload`): a worker starts in a few
milliseconds and imports nothing. The worker's initializer caps its address space (`cap_memory`)
and arms a timer that ends it if it outlives its time. A job whose worker dies (the ceiling, a
crash) raises `Died`, one past its time `TooSlow`, one that cannot get a worker `NoWorker`: one
executor per job says exactly which job failed, and the others go on.

What a job returns crosses as one message (`_frame`): a pickle made without a memo, the large
buffers (Arrow's) kept out of it and placed after it, aligned, so that the caller makes them as
views of the message instead of copies (a big ledger's columns are 70 MB). A large message is
written once into an anonymous in-memory file of the worker (`_Shared`), which the caller maps:
through the executor's pipe it was copied five times over (pickled, piped in 64 KB pieces,
received, unpickled), 0.4 s of a big ledger's 80 MB on the way from its worker to the run.

This module knows nothing of what the jobs do; the caller maps these errors to its own.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import faulthandler
import gc
import io
import mmap
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures.process import BrokenProcessPool
from typing import Any

try:
    import resource
except ImportError:  # pragma: no cover - not on Unix: no memory ceiling
    resource = None  # type: ignore[assignment]

GRACE = 1.0  # seconds a worker outlives its job's time limit before its own timer ends it

_NOTHING = object()
_in_worker = False  # True in a worker: `cap_memory` sets the ceiling only there
_preloaded: set[str] = set()


class SandboxError(Exception):
    """A job that gave no answer."""


class Died(SandboxError):
    """The worker ended before it answered: the memory ceiling, or a crash."""


class TooSlow(SandboxError):
    """The job outlived its time limit; its worker was ended."""


class NoWorker(SandboxError):
    """No worker process could be started (the system refused: out of memory or processes)."""


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def preload(modules: Iterable[str]) -> None:
    """Modules the workers should find imported. Taken when the forkserver starts (the first
    job): a module asked for later is imported by each worker that needs it. (A worker also runs
    the main script again, as `multiprocessing` does, its work behind `if __name__ ==
    "__main__"`: what that script imports belongs here too.)"""
    fresh = set(modules) - _preloaded
    if fresh:
        _preloaded.update(fresh)
        context = _context()
        if context.get_start_method() == "forkserver":
            context.set_forkserver_preload(sorted(_preloaded))


def warm(modules: Iterable[str] = ()) -> None:
    """Start the forkserver now, with `modules` preloaded: it imports them while the caller goes on."""
    preload(modules)
    context = _context()
    if context.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        with contextlib.suppress(OSError, ValueError):
            forkserver.ensure_running()


def stop() -> None:
    """End the forkserver (once the caller's work is done) and wait for it: it waited for each
    worker it started, so their CPU time and peak memory then count among this process's
    children's (what `time`, cron's accounting and the benchmarks see), and no process is left."""
    from multiprocessing import forkserver

    stopping = getattr(getattr(forkserver, "_forkserver", None), "_stop", None)
    if stopping is not None:
        with contextlib.suppress(OSError):
            stopping()


def _vm_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def cap_memory(budget: int) -> None:
    """In a worker: from now on at most its current size + `budget` bytes of address space, so a
    job that would need more fails there (MemoryError, or the worker ends), never the caller.
    Elsewhere: nothing. A job may call it again once it knows better what it needs."""
    if not _in_worker or resource is None:
        return
    try:
        in_use = _vm_bytes()  # 0: unknown, and then no ceiling rather than one below what is used
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        ceiling = in_use + budget
        if hard != resource.RLIM_INFINITY:
            ceiling = min(ceiling, hard)
        if in_use:
            resource.setrlimit(resource.RLIMIT_AS, (ceiling, hard))
    except (AttributeError, ValueError, OSError):
        pass


def _alive(pid: int) -> bool:
    """Whether process `pid` still runs (a killed one not yet reaped by its parent does not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except FileNotFoundError:
        return False
    except (OSError, IndexError):  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except OSError:
            pass
        return True


def _orphan_watch(caller: int) -> None:  # pragma: no cover - runs in the worker
    """Ends the worker once the process that started it is gone. A caller killed outright (a
    crash, SIGKILL) cannot tell its workers to stop, and a worker waiting for work would wait
    for ever, keeping the forkserver alive and the caller's output pipes open."""
    while _alive(caller):
        time.sleep(0.5)
    os._exit(1)


def _enter(memory: int | None, seconds: float, caller: int) -> None:  # pragma: no cover - runs in the worker
    """A worker's initializer: quiet, capped, timed, and gone with its caller."""
    global _in_worker
    _in_worker = True
    threading.Thread(target=_orphan_watch, args=(caller,), name="orphan-watch", daemon=True).start()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # an allocation failure prints a Rust backtrace: not for the admin
    faulthandler.disable()  # nor a Python one, when a test runner or PYTHONFAULTHANDLER enabled it
    gc.disable()  # a short-lived process: collecting its million small objects would only cost time
    if hasattr(signal, "setitimer"):
        signal.signal(signal.SIGALRM, signal.SIG_DFL)  # the timer's signal ends the process
        signal.setitimer(signal.ITIMER_REAL, max(0.0, seconds) + GRACE)
    if memory is not None:
        cap_memory(memory)


# A job's answer (`_frame`): the number of parts and each part's size (8 bytes each), then the
# parts, each from a multiple of `_ALIGN` bytes: first the pickle stream, then the buffers pickled
# out of band (protocol 5).
_ALIGN = 64


def _aligned(offset: int) -> int:
    return -(-offset // _ALIGN) * _ALIGN


def _frame(value: Any) -> bytes:
    return b"".join(_pieces(value))


# A message at least this large crosses as a `_Shared` file, where the system has them.
SHARED_BYTES = 1 << 20
_answers: list[int] = []  # in a worker: the files of its answers, open until it ends
_SHARING = [True]  # in the caller: False once a `_Shared` answer could not be read (`Job._mapped`)


class _Shared:
    """A job's message left in an anonymous in-memory file of its worker (`memfd_create`): the
    caller opens it through /proc while the worker waits to be ended (`Job.close`), and maps it."""

    def __init__(self, pid: int, fd: int, size: int) -> None:
        self.pid, self.fd, self.size = pid, fd, size

    def mapped(self) -> memoryview:
        with open(f"/proc/{self.pid}/fd/{self.fd}", "rb") as fh:
            if os.fstat(fh.fileno()).st_size != self.size:
                raise OSError("the answer's file is not whole")
            return memoryview(mmap.mmap(fh.fileno(), self.size, flags=mmap.MAP_SHARED | _POPULATE,
                                        prot=mmap.PROT_READ))


_POPULATE = getattr(mmap, "MAP_POPULATE", 0)  # the pages mapped at once, not one fault each


def _pieces(value: Any) -> list[Any]:
    """`_frame`'s message as the pieces it is joined from."""
    stream = io.BytesIO()
    buffers: list[pickle.PickleBuffer] = []
    pickler = pickle.Pickler(stream, 5, buffer_callback=buffers.append)
    pickler.fast = True  # no memo: 6x faster on a million short strings, and nothing here is cyclic
    pickler.dump(value)
    parts = [stream.getbuffer(), *(b.raw() for b in buffers)]
    pieces: list[Any] = [b""]
    offset = 8 + 8 * len(parts)
    for part in parts:
        start = _aligned(offset)
        pieces += [bytes(start - offset), part]
        offset = start + part.nbytes
    pieces[0] = b"".join(n.to_bytes(8, "little") for n in (len(parts), *(p.nbytes for p in parts)))
    return pieces


def _answer(value: Any, shared: bool = True) -> bytes | _Shared:  # pragma: no cover - runs in the worker
    """`_frame(value)`; a large one written into a `_Shared` file instead, when `shared` and the
    system allows."""
    pieces = _pieces(value)
    size = sum(memoryview(p).nbytes for p in pieces)
    if (shared and size >= SHARED_BYTES and hasattr(os, "memfd_create")
            and os.path.isdir(f"/proc/{os.getpid()}/fd")):
        fd = -1
        try:
            fd = os.memfd_create("answer", os.MFD_CLOEXEC)
            for piece in pieces:
                view = memoryview(piece).cast("B")
                while view.nbytes:
                    view = view[os.write(fd, view):]
            _answers.append(fd)
            return _Shared(os.getpid(), fd, size)
        except OSError:
            if fd >= 0:
                os.close(fd)
    return b"".join(pieces)


def _unframe(message: bytes | memoryview) -> Any:
    """What `_frame` made: the buffers are views of `message`, not copies."""
    view = memoryview(message)
    count = int.from_bytes(view[:8], "little")
    offset = 8 + 8 * count
    parts = []
    for i in range(count):
        size = int.from_bytes(view[8 + 8 * i:16 + 8 * i], "little")
        start = _aligned(offset)
        parts.append(view[start:start + size])
        offset = start + size
    return pickle.loads(parts[0], buffers=parts[1:])


def _piped(fd: int) -> bytes:  # pragma: no cover - runs in the worker
    """A `_Shared` answer's bytes, read back from its file."""
    size = os.fstat(fd).st_size
    data = bytearray()
    while len(data) < size:
        chunk = os.pread(fd, size - len(data), len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def _call(shared: bool, fn: Callable[..., Any], *args: Any) -> bytes | _Shared:  # pragma: no cover - runs in the worker
    return _answer(fn(*args), shared)


class Job:
    """`fn(*args)` running in a worker of its own; `result()` gives what it returned or raised
    (again if asked again), `close()` ends the worker: call it once the result is taken."""

    def __init__(self, fn: Callable[..., Any], *args: Any, timeout: float, memory: int | None = None) -> None:
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self._value: Any = _NOTHING
        self._pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=_context(), initializer=_enter,
                                                            initargs=(memory, timeout, os.getpid()))
        before = set(multiprocessing.active_children())
        try:
            # The worker starts here, in this thread: the process that appears is this job's.
            self.future = self._pool.submit(_call, _SHARING[0], fn, *args)
        except (OSError, EOFError, RuntimeError, BrokenProcessPool) as exc:
            self._pool.shutdown(wait=False, cancel_futures=True)
            raise NoWorker(str(exc) or type(exc).__name__) from None
        self._workers = [p for p in multiprocessing.active_children() if p not in before]

    def done(self) -> bool:
        return self.future.done()

    def result(self) -> Any:
        """What `fn` returned, or raised; `Died` or `TooSlow` when it gave no answer."""
        if self._value is not _NOTHING:
            return self._value
        try:
            answer = self.future.result(max(0.0, self.deadline - time.monotonic()))
            if isinstance(answer, _Shared):
                mapped = self._mapped(answer)
                if mapped is None:  # the system let the worker make it but not this process read it
                    return self.result()  # its bytes, asked of the worker again
                self._value = _unframe(mapped)
            else:
                self._value = _unframe(answer)
            return self._value
        except concurrent.futures.TimeoutError:
            self.close()
            raise TooSlow(f"over {self.timeout:g} seconds") from None
        except BrokenProcessPool:
            if time.monotonic() >= self.deadline:
                raise TooSlow(f"over {self.timeout:g} seconds") from None
            raise Died("the worker ended without an answer") from None

    def _mapped(self, answer: _Shared) -> memoryview | None:
        """A `_Shared` answer mapped, from this job's worker alone. None when it cannot be read
        (a /proc this process may not look into): the worker is asked to send it through the
        pipe (`_piped`), as every later job will."""
        if answer.pid not in {w.pid for w in self._workers}:
            raise Died("the answer came from another process")
        try:
            return answer.mapped()
        except (OSError, ValueError):
            _SHARING[0] = False
            try:
                self.future = self._pool.submit(_piped, answer.fd)
            except (OSError, RuntimeError, BrokenProcessPool):
                raise Died("the worker's answer could not be read") from None
            return None

    def close(self) -> None:
        """End the worker if it is still at work, and wait for it to be gone: then nothing of
        the job (its queues' semaphores) outlives it, even when the process ends without the
        interpreter's teardown."""
        if not self.future.done():
            for worker in self._workers:
                with contextlib.suppress(OSError, ValueError):
                    worker.kill()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._workers = []


def wait(jobs: Iterable[Job], until: float) -> None:
    """Until one of `jobs` is done or the monotonic clock reaches `until`."""
    futures = [job.future for job in jobs]
    if futures:
        concurrent.futures.wait(futures, max(0.0, until - time.monotonic()),
                                return_when=concurrent.futures.FIRST_COMPLETED)

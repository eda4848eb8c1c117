"""The reading sandbox: a picklable function run in a worker of its own, capped and timed.

Whatever the function does (returns, raises, aborts the process, hangs, asks for more memory
than its ceiling), the caller gets an answer or a named error, in bounded time, and no worker is
left behind.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from typing import Any

import pytest

from pipeline.io import sandbox


def columns(texts: list[str], numbers: list[int]) -> dict[str, Any]:
    import pyarrow as pa

    return {"texts": pa.array(texts, pa.string()), "numbers": pa.array(numbers, pa.int64()), "plain": texts}


def fail(message: str) -> None:
    raise ValueError(message)


def greedy(budget: int) -> int:
    sandbox.cap_memory(budget)
    return len(bytearray(4 * budget))  # more than the ceiling allows


def gone(job: sandbox.Job) -> bool:
    return not any(p.is_alive() for p in multiprocessing.active_children())


def test_a_result_crosses_whole() -> None:
    """Arrow arrays and plain values come back equal, and the worker is gone once closed."""
    texts, numbers = ["张伟", "", "a\x00b"], [0, -2**63, 2**63 - 1]
    job = sandbox.Job(columns, texts, numbers, timeout=60)
    back = job.result()
    job.close()
    assert back["plain"] == texts and back["texts"].to_pylist() == texts and back["numbers"].to_pylist() == numbers
    assert job.result() is back  # asked again: the same answer
    assert gone(job)


def test_a_large_result_crosses_whole() -> None:
    """A result of megabytes (a big ledger's columns) crosses as a shared file, not through the
    pipe: the same values, and the worker gone once closed."""
    texts = [f"客户{i:07d}" for i in range(200_000)]
    numbers = list(range(-100_000, 400_000))
    job = sandbox.Job(columns, texts, numbers, timeout=60)
    back = job.result()
    job.close()
    assert back["numbers"].nbytes >= sandbox.SHARED_BYTES
    assert back["texts"].to_pylist() == texts and back["numbers"].to_pylist() == numbers and back["plain"] == texts
    assert gone(job)


def test_what_the_function_raises_is_raised_again() -> None:
    job = sandbox.Job(fail, "该文件无法读取", timeout=60)
    with pytest.raises(ValueError, match="该文件无法读取"):
        job.result()
    job.close()


def test_a_worker_that_dies_is_died_not_a_crash_of_the_caller() -> None:
    job = sandbox.Job(os.abort, timeout=60)
    with pytest.raises(sandbox.Died):
        job.result()
    job.close()
    assert gone(job)


def test_a_worker_over_its_memory_ceiling_fails_alone() -> None:
    """A ceiling the function asks for (`cap_memory`), and one the caller gives (`memory`)."""
    for job in (sandbox.Job(greedy, 256 << 20, timeout=60), sandbox.Job(bytearray, 1 << 30, timeout=60, memory=256 << 20)):
        with pytest.raises((sandbox.Died, MemoryError)):
            job.result()
        job.close()
    assert sandbox.Job(len, bytes(10), timeout=60).result() == 10  # and the next job is fine


def test_a_hanging_worker_is_ended_at_its_time() -> None:
    began = time.monotonic()
    job = sandbox.Job(time.sleep, 600, timeout=0.5)
    with pytest.raises(sandbox.TooSlow):
        job.result()
    job.close()
    assert time.monotonic() - began < 120 and gone(job)  # ended long before its 600 s sleep


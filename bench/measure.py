"""Run one command and write its wall time and peak RSS as JSON into the file named by the first
argument, so that the command's own output stays untouched.

Usage: python bench/measure.py RESULT.json -- COMMAND [ARG...]

This process is small and starts the command itself, so `getrusage(RUSAGE_CHILDREN).ru_maxrss`
after the wait is the peak resident set of that command (the largest of it and the processes it
waited for), not inflated by a big parent: on Linux a child started by vfork inherits the memory
high-water mark of the process that started it, which is why the benchmark does not measure from
its own process.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    out, cmd = sys.argv[1], sys.argv[3:]
    t0 = time.perf_counter()
    rc = subprocess.call(cmd)
    wall = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"rc": rc, "wall": wall, "maxrss_kb": ru.ru_maxrss, "user": ru.ru_utime, "sys": ru.ru_stime}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Small helpers about operating-system processes (no Flask)."""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import threading
import time


def alive(pid: int) -> bool:
    """Whether a process with this id exists (ours or another user's)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# glibc's mallopt() parameter (malloc.h).
M_ARENA_MAX = -8
# Set only when the operator has not set its environment variable (glibc reads those at
# start-up, and an explicit choice wins).
MALLOC_SETTINGS = (("MALLOC_ARENA_MAX", M_ARENA_MAX, 2),)


def tune_malloc() -> list[str]:
    """Cap glibc's malloc arenas at two (glibc only; elsewhere a no-op).

    Every thread that allocates gets an arena of its own by default (up to 8 per core), and
    memory freed in one arena is not reused by another: a worker's request, history-writer
    and job threads then each keep their own high-water mark. Two are plenty for a worker's
    few threads. A fixed `MALLOC_MMAP_THRESHOLD_=131072` would also hand large freed blocks
    back to the kernel (about 22 MiB less PSS for two workers after 10,000-row requests) but
    costs a third more CPU per such request in page faults, so it is left to the operator
    (docs/deploying.md). Returns the settings applied.
    """
    libc = _glibc()
    if libc is None:  # not Linux, or musl & co: leave their malloc alone
        return []
    mallopt = libc.mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return [
        f"{name}={value}"
        for name, param, value in MALLOC_SETTINGS
        if name not in os.environ and mallopt(param, value) == 1
    ]


class _MallInfo2(ctypes.Structure):
    """glibc's `struct mallinfo2` (malloc.h, glibc 2.33+)."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


class HeapTrimmer:
    """Hands a worker's freed heap pages back to the kernel, off the request path.

    A 10,000-row request allocates megabytes (its body, 10,000 parsed rows, the answer's
    text) and frees them when it ends; glibc keeps the freed pages inside its heap, so each
    worker's private memory ratchets up to its largest request and stays there (6-11 MiB of
    `[heap]` per worker after sixty such requests). Once a second this thread asks glibc how
    much of the heap is free (`mallinfo2`, microseconds) and, past `slack`, calls
    `malloc_trim(0)`, which returns whole free pages wherever they are (~0.3 ms). Doing it
    after each big request instead would cost that request the trim; a fixed mmap threshold
    costs every large allocation page faults (see `tune_malloc`).
    """

    def __init__(self, interval: float = 1.0, slack: int = 4 << 20) -> None:
        self.interval = interval
        self.slack = slack
        self.trims = 0
        libc = _glibc()
        self._info = getattr(libc, "mallinfo2", None) if libc is not None else None
        self._trim = getattr(libc, "malloc_trim", None) if libc is not None else None
        if self._info is not None and self._trim is not None:
            self._info.restype = _MallInfo2
            self._trim.argtypes = (ctypes.c_size_t,)
            self._trim.restype = ctypes.c_int

    @property
    def available(self) -> bool:
        return self._info is not None and self._trim is not None

    def free_bytes(self) -> int:
        """Bytes glibc holds free in its arenas (0 where that cannot be asked)."""
        return int(self._info().fordblks) if self._info is not None else 0

    def trim_if_worth_it(self) -> bool:
        if self._trim is None or self.free_bytes() < self.slack:
            return False
        self._trim(0)
        self.trims += 1
        return True

    def start(self) -> threading.Thread | None:
        """Run in a daemon thread of this process (call it after fork); None off glibc."""
        if not self.available:
            return None
        thread = threading.Thread(target=self._run, name="heap-trimmer", daemon=True)
        thread.start()
        return thread

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            try:
                self.trim_if_worth_it()
            except Exception:  # never let housekeeping take a worker down
                logging.getLogger("modelserve").exception("heap trim failed")
                return


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "gnu_get_libc_version") else None

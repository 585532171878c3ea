"""Small helpers about operating-system processes (no Flask)."""

from __future__ import annotations

import ctypes
import os
import sys


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
    if not sys.platform.startswith("linux"):
        return []
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return []
    if not hasattr(libc, "gnu_get_libc_version"):  # musl & co: leave their malloc alone
        return []
    mallopt = libc.mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return [
        f"{name}={value}"
        for name, param, value in MALLOC_SETTINGS
        if name not in os.environ and mallopt(param, value) == 1
    ]

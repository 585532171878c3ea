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


# glibc's mallopt() parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
# Each is set only when the operator has not set its environment variable (glibc reads those
# at start-up, and an explicit choice wins).
MALLOC_SETTINGS = (
    ("MALLOC_ARENA_MAX", M_ARENA_MAX, 2),
    ("MALLOC_MMAP_THRESHOLD_", M_MMAP_THRESHOLD, 128 * 1024),
    ("MALLOC_TRIM_THRESHOLD_", M_TRIM_THRESHOLD, 128 * 1024),
)


def tune_malloc() -> list[str]:
    """Make a long-running server give freed memory back (glibc only; elsewhere a no-op).

    By default glibc raises its mmap threshold each time a large block is freed, so after a
    few batch requests their multi-megabyte bodies and arrays come from the heap and stay in
    the process's resident memory; and every thread that allocates gets an arena of its own.
    A fixed 128 KiB mmap threshold sends large blocks back to the kernel when freed, and two
    arenas are plenty for a worker's few threads. Returns the settings applied.
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
        f"{name.rstrip('_')}={value}"
        for name, param, value in MALLOC_SETTINGS
        if name not in os.environ and mallopt(param, value) == 1
    ]

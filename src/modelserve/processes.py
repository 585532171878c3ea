"""Small helpers about operating-system processes (no Flask)."""

from __future__ import annotations

import os


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

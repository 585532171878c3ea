"""Random ids (request ids, history record ids) from the kernel's CSPRNG, read in blocks.

`os.urandom` is one getrandom() system call per id, and CPython releases the GIL around it.
On a busy worker the history writer or the log flusher takes the GIL at that moment, and the
request thread waits to get it back: two such hand-offs per prediction (its request id and
its record id). Reading 4 KiB at a time makes that one call per 256 ids of 16 bytes, and
slicing a block keeps the GIL.

The bytes are the kernel's, each handed out once. A process forked from this one (a gunicorn
worker) starts with no block of its own (`os.register_at_fork`), so two workers never hand
out the same bytes.
"""

from __future__ import annotations

import os
import threading

BLOCK_BYTES = 4096


class RandomBlocks:
    """Kernel random bytes, `BLOCK_BYTES` read at a time and handed out once each."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the block (and a lock another thread may have held at fork)."""
        self._lock = threading.Lock()
        self._block = b""
        self._used = 0

    def take(self, n: int) -> bytes:
        if n > BLOCK_BYTES:
            return os.urandom(n)
        with self._lock:
            start = self._used
            if start + n > len(self._block):
                self._block = os.urandom(BLOCK_BYTES)
                start = 0
            self._used = start + n
            return self._block[start : start + n]


_blocks = RandomBlocks()
os.register_at_fork(after_in_child=_blocks.reset)


def random_hex(n: int) -> str:
    """`os.urandom(n).hex()`: n random bytes as 2n hex digits."""
    return _blocks.take(n).hex()

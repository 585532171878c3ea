"""Random ids come from kernel random bytes read in blocks, each byte handed out once, and a
forked worker never repeats its parent's bytes."""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor

from modelserve.ids import BLOCK_BYTES, RandomBlocks, random_hex


def test_random_hex_is_n_random_bytes_in_hex() -> None:
    ids = [random_hex(16) for _ in range(3 * BLOCK_BYTES // 16)]  # across several blocks
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert re.fullmatch(r"[0-9a-f]{14}", random_hex(7))
    assert len(random_hex(BLOCK_BYTES + 1)) == 2 * (BLOCK_BYTES + 1)


def test_threads_never_get_the_same_bytes() -> None:
    blocks = RandomBlocks()
    with ThreadPoolExecutor(8) as pool:
        taken = list(pool.map(lambda _: blocks.take(16), range(4000)))
    assert len(set(taken)) == len(taken) == 4000


def test_a_forked_process_does_not_repeat_its_parents_bytes() -> None:
    random_hex(16)  # the parent holds a block with bytes left
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.write(write, bytes.fromhex(random_hex(16)))
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    childs = os.read(read, 16)
    os.close(read)
    parents = bytes.fromhex(random_hex(16))
    assert len(childs) == 16 and childs != parents

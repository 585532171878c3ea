"""glibc malloc settings of served processes: the arena cap, the documented threshold, and
the heap trimmer that gives freed pages back."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CHILD = """
import re, sys
def rss_mib():
    return int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) // 1024
if sys.argv[1] in ("tuned", "trimmed"):
    from modelserve.processes import tune_malloc
    print(",".join(tune_malloc()), file=sys.stderr)
first = bytearray(1 << 20)
del first  # glibc now raises its mmap threshold above 1 MiB
base = rss_mib()
blocks = [bytearray(900 * 1024) for _ in range(64)]  # a batch request's bodies and arrays
last = blocks[-1]  # one block still alive, as in a busy worker
del blocks
if sys.argv[1] == "trimmed":
    import time
    from modelserve.processes import HeapTrimmer
    trimmer = HeapTrimmer(interval=0.05)
    assert trimmer.free_bytes() > 32 << 20
    trimmer.start()
    time.sleep(0.5)
    assert trimmer.trims >= 1 and trimmer.free_bytes() > 32 << 20  # still free, not resident
print(rss_mib() - base)
"""

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not os.confstr("CS_GNU_LIBC_VERSION"),
    reason="glibc only",
)


def retained_mib(mode: str, **env: str) -> tuple[int, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode],
        capture_output=True,
        text=True,
        check=True,
        env={**clean, **env},
    )
    return int(done.stdout), done.stderr.strip()


def test_untuned_glibc_keeps_freed_large_blocks() -> None:
    # Why the tuning exists: 63 freed 900 KiB blocks stay resident in a default process.
    kept, _ = retained_mib("plain")
    assert kept > 32


def test_serve_caps_the_arenas_unless_the_operator_chose() -> None:
    assert retained_mib("tuned")[1] == "MALLOC_ARENA_MAX=2"
    assert retained_mib("tuned", MALLOC_ARENA_MAX="8")[1] == ""


def test_the_documented_mmap_threshold_gives_large_blocks_back() -> None:
    # docs/deploying.md: the operator's choice of memory over CPU for large requests.
    kept, applied = retained_mib("tuned", MALLOC_MMAP_THRESHOLD_="131072")
    assert applied == "MALLOC_ARENA_MAX=2"
    assert kept < 8


def test_the_heap_trimmer_gives_freed_blocks_back_without_any_setting() -> None:
    # What serve's workers run: the same 63 freed blocks, handed back within a second.
    kept, applied = retained_mib("trimmed")
    assert applied == "MALLOC_ARENA_MAX=2"
    assert kept < 8


def test_the_heap_trimmer_leaves_a_heap_with_little_free_alone() -> None:
    from modelserve.processes import HeapTrimmer

    trimmer = HeapTrimmer(slack=1 << 40)
    assert trimmer.available
    assert not trimmer.trim_if_worth_it() and trimmer.trims == 0

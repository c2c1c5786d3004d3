"""glibc's allocator thresholds for a training process.

glibc maps every block above its mmap threshold (128 KiB at first, raised dynamically up to 32 MiB) with its own
``mmap`` and gives heap memory above the trim threshold back to the system; a training loop that allocates tensors
of a few MiB at every step (minibatches, observations of thousands of envs) then page-faults them in anew each time.
Raising both thresholds once keeps such blocks in the heap, where they are reused: measured on the demo run, a PPO
update phase took 17.7 s without and 16.5 s with it (docs/performance.md). Memory is given back to the system less
eagerly, which a training process does not need anyway.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def raise_malloc_thresholds(mmap_threshold: int = 64 << 20, trim_threshold: int = 512 << 20) -> bool:
    """Set glibc's ``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD`` (``mallopt``); ``False`` where there is no glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(M_TRIM_THRESHOLD, trim_threshold))

"""Keep freed memory in the process on Linux, so that large CPU tensors are not paid for twice per step.

A CPU training step of the paper CapsNet allocates and frees several tensors
of 75-300 MB (the predictions, the im2col patches, their gradients).  glibc's
``malloc`` hands every block above 32 MB straight back to the kernel when it
is freed (``mmap``/``munmap``), so the next step's identical allocation
starts from untouched pages and pays a page fault for every 4 KiB of it.
Measured side by side on the course's 2-core machine: copying the 300 MB of
im2col patches took 64 ms into a fresh block and 18 ms into a reused one,
and a paper CapsNet training step (batch 100) took 608 ms with this setting
against 727 ms without.  glibc still gives some blocks back by its own
heuristics; ``tests/capslib/kernels/test_fused_conv.py`` checks that at least half of a
step-like pattern's page faults go away.

:func:`keep_freed_memory` asks glibc (``mallopt``) to serve every block from
its heap and to keep freed memory there for reuse.  The process then keeps
the memory of its largest step (a few GB for the paper CapsNet at batch 100)
until it exits, which is what a training run wants.  ``python -m
capslib.train`` and ``python -m capslib.bench`` call it when they run on a
CPU; it does nothing on other C libraries or systems, and nothing on a GPU's
memory (PyTorch caches that itself).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["keep_freed_memory"]

# mallopt parameters from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_MAX = -4

_applied = False


def keep_freed_memory() -> bool:
    """Tell glibc to keep freed memory for reuse (no ``mmap`` per large block, no trimming).

    Returns True if the settings were applied (Linux with glibc), False otherwise.
    Calling it again does nothing more.
    """
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(_M_MMAP_MAX, 0) == 1  # serve large blocks from the heap too
    ok &= (
        mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
    )  # never give the heap's top back to the kernel
    ok &= mallopt(_M_TOP_PAD, 256 * 2**20) == 1  # grow the heap 256 MB at a time
    _applied = bool(ok)
    return _applied

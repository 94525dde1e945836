"""Freed memory goes back to the system (issue 8: after ten 25 MB messages at once the daemon
kept 476 MB and its worker 190 MB, though nothing held the messages any more)."""

from __future__ import annotations

import ctypes
import functools
from typing import Any

_M_MMAP_THRESHOLD = -3  # glibc's malloc.h
# Blocks from this size up are mmap()ed and unmapped again when freed. glibc's default is the
# same, but it raises the threshold to the size of each large block freed (up to 32 MB): after
# one message every later one came from the heap, whose freed middle is never given back.
# Setting it fixes it.
MMAP_THRESHOLD = 256 * 1024


def release_large_blocks_at_once() -> None:
    """For the daemon and its worker, at their start; nothing where libc is not glibc."""
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def trim() -> None:
    """Give the free memory at the top of the heaps back (after large messages)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _glibc() -> Any:
    """The C library the interpreter runs on, if it has glibc's malloc_trim."""
    libc = ctypes.CDLL(None)
    return libc if hasattr(libc, "malloc_trim") else None

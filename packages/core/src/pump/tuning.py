"""Process-wide runtime settings for batch-at-a-time work, applied by `Application.main()`.

A pipeline keeps a batch's events (a few hundred to a few thousand fresh objects) alive at
once, where a hand-written loop frees each event before making the next. Defaults of CPython
and glibc punish that pattern, measured on this project's benchmarks:

- glibc returns the top of the heap to the OS as soon as a batch is freed, and the next batch
  page-faults it back: a JSON parse → serialize chain ran at 0.74 M events/s (1.6 M page faults)
  instead of 1.75 M/s. Raising the trim threshold and the top pad keeps that memory mapped.
- setting those turns off glibc's sliding mmap threshold, so every block over 128 KiB (a file
  read, its decoded text, a joined write) would be mmap'd and unmapped each time, page-faulting
  all of it again (and, with worker threads, flushing their TLBs): the CSV → JSON Lines
  benchmark used 25% more CPU than with the threshold set, and how much more depends on how
  dear page faults are on the machine. The mmap threshold is therefore set as well.
- the cyclic GC's young generation is collected every 700 container allocations, i.e. more
  than once per batch, scanning objects that are alive by design: raising the threshold to
  10,000 took the in-memory benchmark from 0.81 to 0.87 of the bare loop.

The C library is looked up once per process (`ctypes.util.find_library` spawned `ldconfig`
on every `Application.run()`, 10-30 ms each time). Memory stays bounded by the pipelines' in-flight
limits plus these few megabytes. Pass `Application(tune_runtime=False)` to leave the process
as it is.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import platform

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

#: glibc's largest mmap threshold on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX).
MMAP_THRESHOLD = 32 << 20

GC_YOUNG_THRESHOLD = 10_000


def tune_runtime() -> None:
    """Apply both settings (idempotent)."""
    tune_gc()
    tune_allocator()


def tune_gc(young: int = GC_YOUNG_THRESHOLD) -> None:
    """Collect the young generation every `young` allocations (never lowers the current value)."""
    threshold0, threshold1, threshold2 = gc.get_threshold()
    if threshold0 and threshold0 < young:
        gc.set_threshold(young, threshold1, threshold2)


def tune_allocator(
    trim_threshold: int = 64 << 20, top_pad: int = 16 << 20, mmap_threshold: int = MMAP_THRESHOLD
) -> bool:
    """Set glibc's trim threshold, top pad and mmap threshold; False where it is not glibc."""
    libc = _glibc()
    if libc is None:
        return False
    settings = (
        (_M_TRIM_THRESHOLD, trim_threshold),
        (_M_TOP_PAD, top_pad),
        (_M_MMAP_THRESHOLD, mmap_threshold),
    )
    return all([bool(libc.mallopt(option, value)) for option, value in settings])


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library if it is glibc, loaded once per process."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        # glibc's soname: ctypes.util.find_library would run `ldconfig -p` to learn it
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt  # noqa: B018 - fails here, once, if it is missing
    except (OSError, AttributeError):
        return None
    return libc

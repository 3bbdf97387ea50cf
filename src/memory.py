"""Process-wide memory settings for a long run, applied once at start: flat memory and short garbage collections.

``pin_mmap_threshold``: pin glibc's mmap threshold (a no-op on other C libraries).

Why by hand: no maintained library does this, and the fix is one ``mallopt`` call. glibc starts serving blocks of
128 KiB or more with their own mappings, returned to the system on free, but each such block freed raises the
threshold to its size (up to 32 MiB). After the first response body of a few MB, bodies and page lists are carved
from the heap arenas of whichever thread touches them, and the freed space stays with the process: peak memory
creeps up with the number of pages read. Setting the threshold explicitly also turns that adjustment off; it is
what ``MALLOC_MMAP_THRESHOLD_=131072`` in the environment does.
"""

from __future__ import annotations

import ctypes
import gc
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's own starting value


def pin_mmap_threshold() -> bool:
    """Return True when the threshold was pinned (glibc), False where there is no glibc ``mallopt``."""
    try:
        process = ctypes.CDLL(None)  # the symbols already loaded into this process, the C library's among them
        process.gnu_get_libc_version  # noqa: B018 - glibc only: musl and macOS have no such symbol
        mallopt = process.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    pinned = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    if not pinned:
        log.debug("mallopt(M_MMAP_THRESHOLD) was refused; memory use may creep up on long runs.")
    return pinned


def freeze_startup_objects() -> int:
    """Move every object alive now (the imported modules, classes and functions) out of the collector's reach.

    Why: a full collection walks every tracked object, the ~39,000 left by the imports included, and holds every
    thread meanwhile, one due to send a paced request too. In a 100,000-message run the longest full collection
    took 36.6 ms; with the start-up objects frozen, 4.4 ms. Returns how many objects were frozen.
    """
    gc.freeze()
    return gc.get_freeze_count()

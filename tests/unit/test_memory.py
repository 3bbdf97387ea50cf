"""memory: the mmap threshold is pinned where the C library is glibc (a quiet no-op elsewhere); start-up objects
are frozen out of the garbage collector's full collections."""

import gc
import platform

from memory import freeze_startup_objects, pin_mmap_threshold


def test_pins_the_mmap_threshold_exactly_where_the_c_library_is_glibc():
    assert pin_mmap_threshold() is (platform.libc_ver()[0] == "glibc")


def test_objects_alive_at_start_are_frozen_and_later_ones_are_not():
    try:
        frozen = freeze_startup_objects()
        assert frozen > 1000  # pytest and the imported modules
        later = [[n] for n in range(10)]
        assert gc.is_tracked(later[0]) and gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()

"""memory.pin_mmap_threshold: pinned where the C library is glibc, a quiet no-op elsewhere."""

import platform

from memory import pin_mmap_threshold


def test_pins_the_mmap_threshold_exactly_where_the_c_library_is_glibc():
    assert pin_mmap_threshold() is (platform.libc_ver()[0] == "glibc")

# SPDX-License-Identifier: GPL-2.0
"""The bootstrap superblock's checksum, for tests that corrupt bootstraps.

crc32c (Castagnoli), seed ~0, final xor ~0, over the first 256 bytes with
the checksum field (bytes 4..8) read as zero: uapi/nydusfs_fs.h.
"""
import struct


def crc32c(data):
    crc = 0xffffffff
    for x in data:
        crc ^= x
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82f63b78 if crc & 1 else 0)
    return crc ^ 0xffffffff


def fix_csum(b):
    """Rewrite the checksum of bytearray @b's superblock; returns @b."""
    sb = bytearray(b[:256])
    sb[4:8] = bytes(4)
    b[4:8] = struct.pack("<I", crc32c(bytes(sb)))
    return b

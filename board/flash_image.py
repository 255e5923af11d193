"""The weights image in SPI flash: a header, then the first dense layer's weight words.

Layout (all little-endian), at :data:`FLASH_OFFSET` in the board's flash, after the bitstream:

====== ====== =================================================================
offset size   field
====== ====== =================================================================
0      4      magic ``b"MNQ8"``
4      2      format version, :data:`VERSION`
6      2      weights per word (8)
8      4      number of words
12     4      CRC-32 of the payload (``zlib.crc32``: reflected, init and final
              xor 0xFFFFFFFF)
16     8 * n  the words, word ``k`` as 8 bytes, weight ``l`` of the word in byte ``l``
====== ====== =================================================================
"""

import struct
import zlib

__all__ = ["MAGIC", "VERSION", "HEADER_BYTES", "FLASH_OFFSET", "FlashImageError",
           "make_image", "parse_image"]

MAGIC = b"MNQ8"
VERSION = 1
HEADER_BYTES = 16
WORD_BYTES = 8
#: Where the image goes in flash: 1 MiB, past the UP5K bitstream (about 104 KiB).
FLASH_OFFSET = 0x100000

_HEADER = struct.Struct("<4sHHII")


class FlashImageError(ValueError):
    """A weights image that the board would refuse."""


def make_image(words):
    """The flash image bytes for 64-bit ``words`` (see ``hw.dense.dense_weight_words``)."""
    payload = b"".join(int(w).to_bytes(WORD_BYTES, "little") for w in words)
    return _HEADER.pack(MAGIC, VERSION, WORD_BYTES, len(words), zlib.crc32(payload)) + payload


def parse_image(data, *, words=None):
    """Check an image as the board does; return its words. ``words``: the count expected."""
    if len(data) < HEADER_BYTES:
        raise FlashImageError(f"the image is {len(data)} bytes, shorter than its header")
    magic, version, per_word, count, crc = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise FlashImageError(f"bad magic {magic!r}, expected {MAGIC!r}")
    if version != VERSION or per_word != WORD_BYTES:
        raise FlashImageError(f"format version {version} with {per_word} bytes per word; "
                              f"this build reads version {VERSION} with {WORD_BYTES}")
    if words is not None and count != words:
        raise FlashImageError(f"the image has {count} words, the design expects {words}: "
                              f"it was made for another network")
    payload = bytes(data[HEADER_BYTES:HEADER_BYTES + count * WORD_BYTES])
    if len(payload) != count * WORD_BYTES:
        raise FlashImageError(f"the image is cut short: {len(payload)} of "
                              f"{count * WORD_BYTES} payload bytes")
    if zlib.crc32(payload) != crc:
        raise FlashImageError(f"CRC mismatch: header says {crc:#010x}, payload has "
                              f"{zlib.crc32(payload):#010x}")
    return [int.from_bytes(payload[k:k + WORD_BYTES], "little")
            for k in range(0, len(payload), WORD_BYTES)]

"""The weights image in SPI flash: a header, then the first dense layer's weight words.

Layout (all little-endian, :data:`HEADER`), at :data:`FLASH_OFFSET` in the board's flash,
after the bitstream:

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

import zlib

from amaranth.hdl import unsigned
from amaranth.lib import data

__all__ = ["MAGIC", "VERSION", "HEADER", "HEADER_BYTES", "WORD_BYTES", "FLASH_OFFSET",
           "FlashImageError", "header_bytes", "make_image", "parse_image"]

MAGIC = b"MNQ8"
VERSION = 1
WORD_BYTES = 8
#: Where the image goes in flash: 1 MiB, past the UP5K bitstream (about 104 KiB).
FLASH_OFFSET = 0x100000

#: The header, field by field as the bytes lie in flash (a ``StructLayout`` packs its fields
#: from bit 0, so byte ``k`` is bits ``8k .. 8k+7``, and each field is little-endian). The
#: image writer and reader here and the board's loader (``board.loader``) all read it; the CRC
#: field is last, so the loader checks every byte before it against what it expects.
HEADER = data.StructLayout({"magic": unsigned(8 * len(MAGIC)), "version": unsigned(16),
                            "word_bytes": unsigned(16), "words": unsigned(32),
                            "crc": unsigned(32)})
HEADER_BYTES = HEADER.size // 8


class FlashImageError(ValueError):
    """A weights image that the board would refuse."""


def header_bytes(*, words, crc):
    """The header of an image of ``words`` words whose payload has CRC-32 ``crc``."""
    fields = {"magic": int.from_bytes(MAGIC, "little"), "version": VERSION,
              "word_bytes": WORD_BYTES, "words": words, "crc": crc}
    return HEADER.const(fields).as_value().value.to_bytes(HEADER_BYTES, "little")


def make_image(words):
    """The flash image bytes for 64-bit ``words`` (see ``hw.dense.dense_weight_words``)."""
    payload = b"".join(int(w).to_bytes(WORD_BYTES, "little") for w in words)
    return header_bytes(words=len(words), crc=zlib.crc32(payload)) + payload


def parse_image(image, *, words=None):
    """Check an image as the board does; return its words. ``words``: the count expected."""
    if len(image) < HEADER_BYTES:
        raise FlashImageError(f"the image is {len(image)} bytes, shorter than its header")
    header = data.Const(HEADER, int.from_bytes(image[:HEADER_BYTES], "little"))
    magic = header.magic.to_bytes(len(MAGIC), "little")
    version, per_word, count, crc = header.version, header.word_bytes, header.words, header.crc
    if magic != MAGIC:
        raise FlashImageError(f"bad magic {magic!r}, expected {MAGIC!r}")
    if version != VERSION or per_word != WORD_BYTES:
        raise FlashImageError(f"format version {version} with {per_word} bytes per word; "
                              f"this build reads version {VERSION} with {WORD_BYTES}")
    if words is not None and count != words:
        raise FlashImageError(f"the image has {count} words, the design expects {words}: "
                              f"it was made for another network")
    payload = bytes(image[HEADER_BYTES:HEADER_BYTES + count * WORD_BYTES])
    if len(payload) != count * WORD_BYTES:
        raise FlashImageError(f"the image is cut short: {len(payload)} of "
                              f"{count * WORD_BYTES} payload bytes")
    if zlib.crc32(payload) != crc:
        raise FlashImageError(f"CRC mismatch: header says {crc:#010x}, payload has "
                              f"{zlib.crc32(payload):#010x}")
    return [int.from_bytes(payload[k:k + WORD_BYTES], "little")
            for k in range(0, len(payload), WORD_BYTES)]

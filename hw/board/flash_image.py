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
12     4      the network's identifier (:func:`network_id`)
16     8 * n  the words, word ``k`` as 8 bytes, weight ``l`` of the word in byte ``l``
16+8n  4      CRC-32 of the words (``zlib.crc32``: reflected, init and final xor
              0xFFFFFFFF)
====== ====== =================================================================

The header and the CRC let a host check an image (:func:`parse_image`). The board's loader
(``hw.board.loader``) checks it whole: its CRC register, run over every byte of the image,
must end at the value of the image the design was built with, a constant of the bitstream.

The identifier binds the image to its bitstream: weights made for another network (of the
same shapes, say, when only half of a bitstream and weights pair was programmed) make another
image, which the loader refuses (BAD_WEIGHTS rather than wrong answers), and which
:func:`parse_image` names.
"""

import hashlib
import json
import zlib

import numpy as np

from amaranth.hdl import unsigned
from amaranth.lib import data

__all__ = ["MAGIC", "VERSION", "HEADER", "HEADER_BYTES", "WORD_BYTES", "FLASH_OFFSET",
           "TESTS_MAGIC", "TESTS_OFFSETS", "TESTS_OFFSET", "TESTS_HEADER", "TESTS_HEADER_BYTES",
           "make_test_image", "parse_test_image", "flash_contents", "test_image_room",
           "CRC_BYTES", "FlashImageError", "network_id", "header_bytes",
           "make_image", "parse_image"]

MAGIC = b"MNQ8"
VERSION = 2
WORD_BYTES = 8
#: Where the image goes in flash: 1 MiB, past the UP5K bitstream (about 104 KiB).
FLASH_OFFSET = 0x100000

#: The header, field by field as the bytes lie in flash (a ``StructLayout`` packs its fields
#: from bit 0, so byte ``k`` is bits ``8k .. 8k+7``, and each field is little-endian). The
#: image writer and reader here read it.
HEADER = data.StructLayout({"magic": unsigned(8 * len(MAGIC)), "version": unsigned(16),
                            "word_bytes": unsigned(16), "words": unsigned(32),
                            "network": unsigned(32)})
HEADER_BYTES = HEADER.size // 8
CRC_BYTES = 4


class FlashImageError(ValueError):
    """A weights image that the board would refuse."""


def network_id(net, words):
    """A 32-bit identifier of the network that ``net`` computes and of its flash ``words``:
    the first four bytes (little-endian) of a SHA-256 over its manifest without the
    provenance (which does not change what it computes), its parameters and the words (whose
    order depends on the layer's schedule)."""
    manifest = dict(net.manifest())
    manifest.pop("provenance", None)
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode())
    for name in sorted(net.params):
        for part in ("weight", "bias"):
            array = np.ascontiguousarray(net.params[name][part], dtype=np.int8)
            digest.update(f"{name}.{part}{array.shape}".encode())
            digest.update(array.tobytes())
    digest.update(np.asarray(words, dtype="<u8").tobytes())
    return int.from_bytes(digest.digest()[:4], "little")


def header_bytes(*, words, network):
    """The header of an image of ``words`` words for network ``network`` (its
    :func:`network_id`)."""
    fields = {"magic": int.from_bytes(MAGIC, "little"), "version": VERSION,
              "word_bytes": WORD_BYTES, "words": words, "network": network}
    return HEADER.const(fields).as_value().value.to_bytes(HEADER_BYTES, "little")


def make_image(words, *, network):
    """The flash image bytes for 64-bit ``words`` (see ``hw.stages.dense.dense_weight_words``) of
    the network whose :func:`network_id` is ``network``."""
    payload = b"".join(int(w).to_bytes(WORD_BYTES, "little") for w in words)
    return (header_bytes(words=len(words), network=network) + payload +
            zlib.crc32(payload).to_bytes(CRC_BYTES, "little"))


def parse_image(image, *, words=None, network=None):
    """Check an image as the board does; return its words. ``words``: the count expected;
    ``network``: the identifier expected."""
    if len(image) < HEADER_BYTES:
        raise FlashImageError(f"the image is {len(image)} bytes, shorter than its header")
    header = data.Const(HEADER, int.from_bytes(image[:HEADER_BYTES], "little"))
    magic = header.magic.to_bytes(len(MAGIC), "little")
    version, per_word, count = header.version, header.word_bytes, header.words
    if magic != MAGIC:
        raise FlashImageError(f"bad magic {magic!r}, expected {MAGIC!r}")
    if version != VERSION or per_word != WORD_BYTES:
        raise FlashImageError(f"format version {version} with {per_word} bytes per word; "
                              f"this build reads version {VERSION} with {WORD_BYTES}")
    if words is not None and count != words:
        raise FlashImageError(f"the image has {count} words, the design expects {words}: "
                              f"it was made for another network")
    if network is not None and header.network != network:
        raise FlashImageError(f"the image was made for network {header.network:#010x}, the "
                              f"design runs {network:#010x}: program the weights built with "
                              f"the bitstream (`python -m hw.build --program` writes both)")
    payload = bytes(image[HEADER_BYTES:HEADER_BYTES + count * WORD_BYTES])
    trailer = bytes(image[HEADER_BYTES + len(payload):][:CRC_BYTES])
    if len(payload) != count * WORD_BYTES or len(trailer) != CRC_BYTES:
        raise FlashImageError(f"the image is cut short: {len(payload) + len(trailer)} of "
                              f"{count * WORD_BYTES + CRC_BYTES} bytes after the header")
    crc = int.from_bytes(trailer, "little")
    if zlib.crc32(payload) != crc:
        raise FlashImageError(f"CRC mismatch: the image says {crc:#010x}, its words have "
                              f"{zlib.crc32(payload):#010x}")
    return [int.from_bytes(payload[k:k + WORD_BYTES], "little")
            for k in range(0, len(payload), WORD_BYTES)]


# --- the self-test's images ----------------------------------------------------------------

#: The test images for the board's self-test (``hw.board.top``, ``docs/protocol.md``): a
#: header, then one record per image (its pixels, row-major, then its label), then the CRC-32
#: (``zlib.crc32``) of the records. 10,000 MNIST test images take 7.85 MB of a 16 MiB flash.
TESTS_MAGIC = b"MNQT"
#: Where the test images go in flash, by FPGA family (``board.family``): on the iCE40 boards at
#: 2 MiB, past the weights image; on the ECP5 boards, whose flash holds the bitstream alone
#: before them, at 4 MiB, past the largest ECP5's (the LFE5U-85F's, about 2.3 MB uncompressed).
TESTS_OFFSETS = {"ice40": 0x200000, "ecp5": 0x400000}
#: The iCE40 boards' (:data:`TESTS_OFFSETS`), after the weights image at :data:`FLASH_OFFSET`.
TESTS_OFFSET = TESTS_OFFSETS["ice40"]
TESTS_HEADER = data.StructLayout({"magic": unsigned(8 * len(TESTS_MAGIC)),
                                  "version": unsigned(16), "pixels": unsigned(16),
                                  "count": unsigned(32), "reserved": unsigned(32)})
TESTS_HEADER_BYTES = TESTS_HEADER.size // 8


def make_test_image(images, labels):
    """The flash image of the self-test's ``images`` (uint8, N x pixels or N x H x W) and
    their ``labels`` (0..255)."""
    images = np.asarray(images, dtype=np.uint8).reshape(len(images), -1)
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(images) or not len(images):
        raise FlashImageError(f"{len(images)} images and {len(labels)} labels: give as many "
                              f"of each, at least one")
    if labels.min() < 0 or labels.max() > 255:
        raise FlashImageError("labels must be in 0..255")
    records = np.concatenate([images, labels.astype(np.uint8)[:, None]], axis=1).tobytes()
    header = TESTS_HEADER.const({"magic": int.from_bytes(TESTS_MAGIC, "little"),
                                 "version": VERSION, "pixels": images.shape[1],
                                 "count": len(images), "reserved": 0})
    return (header.as_value().value.to_bytes(TESTS_HEADER_BYTES, "little") + records +
            zlib.crc32(records).to_bytes(CRC_BYTES, "little"))


def test_image_room(flash_bytes, pixels, *, offset=TESTS_OFFSET):
    """How many self-test records of ``pixels`` pixels (and a label) a flash of
    ``flash_bytes`` holds from ``offset`` on, with the header and the CRC: at the iCE40's
    :data:`TESTS_OFFSET`, 18,700 MNIST images in 16 MiB, 8,014 in 8 MiB."""
    return max(0, (flash_bytes - offset - TESTS_HEADER_BYTES - CRC_BYTES) // (pixels + 1))


def parse_test_image(image):
    """Check a self-test image; return ``(images, labels)`` (uint8, N x pixels; N)."""
    if len(image) < TESTS_HEADER_BYTES:
        raise FlashImageError(f"the test image is {len(image)} bytes, shorter than its header")
    header = data.Const(TESTS_HEADER, int.from_bytes(image[:TESTS_HEADER_BYTES], "little"))
    if header.magic.to_bytes(len(TESTS_MAGIC), "little") != TESTS_MAGIC or \
            header.version != VERSION:
        raise FlashImageError(f"not a test image of version {VERSION} (magic {TESTS_MAGIC!r})")
    size = header.count * (header.pixels + 1)
    records = bytes(image[TESTS_HEADER_BYTES:TESTS_HEADER_BYTES + size])
    trailer = bytes(image[TESTS_HEADER_BYTES + size:][:CRC_BYTES])
    if len(records) != size or len(trailer) != CRC_BYTES:
        raise FlashImageError("the test image is cut short")
    if zlib.crc32(records) != int.from_bytes(trailer, "little"):
        raise FlashImageError("the test image's CRC does not match its records")
    table = np.frombuffer(records, np.uint8).reshape(header.count, header.pixels + 1)
    return table[:, :-1], table[:, -1]


def flash_contents(weights, tests=None, *, tests_offset=TESTS_OFFSET):
    """The flash from :data:`FLASH_OFFSET` on: the weights image, and the test image at
    ``tests_offset`` (erased flash, 0xFF, between them)."""
    if tests is None:
        return bytes(weights)
    gap = tests_offset - FLASH_OFFSET - len(weights)
    if gap < 0:
        raise FlashImageError(f"the weights image ({len(weights):,} bytes) reaches past the "
                              f"test images' offset {tests_offset:#x}")
    return bytes(weights) + b"\xff" * gap + bytes(tests)

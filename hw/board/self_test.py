"""The board's self-test from the host's side: the test images (MNIST's, or a data set's) as
the board's flash holds them (``hw.board.flash_image.make_test_image``), the request (``hw.board.link.Link.self_test``) and
what its answer means beside the integer reference."""

import numpy as np

from q8 import dataset, reference
from hw.board.flash_image import (TESTS_HEADER_BYTES, TESTS_OFFSETS, make_test_image,
                                  test_image_room)
from hw.board.spi import CYCLES_PER_BYTE
from hw.board.top import self_test_images

__all__ = ["board_test_images", "test_image", "run_self_test"]


def board_test_images(board, net, data=None, *, interval=None):
    """The self-test's images a design of ``net`` for ``board`` (a ``platforms`` board) is
    built for: the test set of ``data`` (a ``q8.dataset.Dataset``; ``None``: MNIST's;
    ``hw.board.top.self_test_images``) as far as the board's flash holds it
    (``board.flash_bytes``) from its family's offset (``hw.board.flash_image.TESTS_OFFSETS``);
    none for a network slower than the flash (``interval``, its plan's cycles an image back
    to back: ``hw.board.top.self_test_refusal``)."""
    room = test_image_room(board.flash_bytes, net.pixels, offset=TESTS_OFFSETS[board.family])
    return min(self_test_images(net, data, interval=interval), room)


def test_image(count, data=None):
    """The flash image of the first ``count`` test images of ``data`` (a
    ``q8.dataset.Dataset``; ``None``: MNIST's) and their labels."""
    data = dataset.load() if data is None else data
    return make_test_image(data.x_test[:count], data.y_test[:count])


def run_self_test(link, net, *, count, tests, clock_hz):
    """Run a self-test of the first ``count`` images on the board behind ``link`` (a
    :class:`hw.board.link.Link`), whose flash holds ``tests`` (:func:`test_image`'s bytes).
    Returns a dict: ``images``, ``correct`` and ``cycles`` (the board's counts),
    ``images_per_second`` (at the design clock ``clock_hz``, the board's), ``flash_bound`` (the images per second the
    flash's bytes allow: a record of pixels and label at ``hw.board.spi.CYCLES_PER_BYTE`` cycles a
    byte), ``reference_correct`` (the integer reference's on the same images).

    Raises
    ------
    hw.board.link.LinkError
        An error answer, or the board read other images than ``tests``'.
    """
    record = net.pixels + 1
    records = tests[TESTS_HEADER_BYTES:][:count * record]
    table = np.frombuffer(records, np.uint8).reshape(count, record)
    flash_s = count * record * CYCLES_PER_BYTE / clock_hz
    fields = link.self_test(count, records=records, wait_s=2 * flash_s + 0.1)
    ref = reference.run(net, table[:, :-1].reshape(count, *net.input_shape))
    return {"images": count, "correct": fields["correct"], "cycles": fields["cycles"],
            "images_per_second": round(count * clock_hz / fields["cycles"], 1),
            "flash_bound": round(clock_hz / (record * CYCLES_PER_BYTE), 1),
            "clock_mhz": clock_hz / 1e6,
            "reference_correct": int(np.sum(ref.classes == table[:, -1]))}

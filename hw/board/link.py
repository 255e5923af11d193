"""The host's side of the UART protocol (``docs/protocol.md``): requests numbered and
checksummed, answers checked, one retry; over a serial port (:class:`SerialTransport`) or
any byte transport (the compiled simulation of the board: ``sim.board``)."""

from hw.lib.params import check_count
from hw.board.crc import crc32
from hw.board.defaults import BAUD
from hw.board.protocol import (RETRY, Command, ProtocolError, Status, decode_response, frame_bytes,
                       request_bytes, self_test_fields)

__all__ = ["LinkError", "Link", "SerialTransport", "SerialBoard", "checked"]


class LinkError(RuntimeError):
    """The board cannot be reached, or answered with an error status."""


_HINTS = {
    Status.NOT_READY: "the weights are still loading from flash; try again in a moment",
    Status.BAD_WEIGHTS: "the weights image in flash is missing, corrupt or made for another "
                        "network: run `python -m hw.build --program` (it writes the bitstream "
                        "and its weights together)",
    Status.TIMEOUT: "the request was cut short on the line",
    Status.UNKNOWN_COMMAND: "the board did not understand the request",
    Status.BAD_CHECKSUM: "the request was garbled on the line (check the cable and baud rate)",
    Status.FRAMING: "bytes were garbled on the line (check the baud rate)",
    Status.BUSY: "another request arrived while the board was working",
    Status.WATCHDOG: "the network stopped answering: power-cycle the board",
    Status.BAD_REQUEST: "the self-test asked for no images, or for more than the flash holds",
    Status.OVERRUN: "the self-test's images came faster than the network took them",
}


def checked(response):
    """``response`` if its status is OK, else raise :class:`LinkError` naming the status."""
    if response.status != Status.OK:
        raise LinkError(f"the board answered {response.status.name}: {_HINTS[response.status]}")
    return response


class Link:
    """Requests and their answers, checked: each request carries the next sequence number
    (1 to 255, then 1 again) and its CRC; an answer counts only if it is a whole frame with a
    right CRC and, unless it is an error answer to bytes that carried none, echoes the
    request's number. An answer that fails any check, and an error answer that a second try
    may cure (``hw.board.protocol.RETRY``), is tried again once, after the line is quiet.

    Parameters
    ----------
    transport
        Has ``write(data)``; ``read(count, wait_s=None)``, the next ``count`` bytes, fewer if
        none came for its timeout (or ``wait_s`` seconds, if longer); ``discard()``, which drops
        what arrives until the line is quiet.
    classes : int
        Logits per answer (``q8.weights.Network.classes``).
    retries : int
    """

    def __init__(self, transport, *, classes, retries=1):
        check_count("classes", classes, minimum=2)
        check_count("retries", retries, minimum=0)
        self._transport, self._classes, self._retries = transport, classes, retries
        self._seq = 0
        self.retried = 0  # requests sent again, in all

    def _next_seq(self):
        self._seq = self._seq % 255 + 1
        return self._seq

    def request(self, command, payload=b"", *, wait_s=None):
        """Send a request; return its checked answer (any status). ``wait_s``: how long the
        answer may take to begin, if longer than the transport's timeout (a self-test).

        Raises
        ------
        hw.board.protocol.ProtocolError
            No valid answer to the request, after the retry.
        """
        for attempt in range(self._retries + 1):
            if attempt:
                self.retried += 1
                self._transport.discard()
            seq = self._next_seq()
            self._transport.write(request_bytes(command, seq=seq, payload=payload))
            try:
                frame = self._transport.read(frame_bytes(self._classes)) if wait_s is None \
                    else self._transport.read(frame_bytes(self._classes), wait_s=wait_s)
                response = decode_response(frame, classes=self._classes)
            except ProtocolError as e:
                problem = e
                continue
            if response.seq != seq and (response.status == Status.OK or
                                        response.status not in RETRY):
                problem = ProtocolError(
                    f"the answer carries sequence number {response.seq}, the request "
                    f"{seq}: it answers another request (the byte stream is out of step)")
                continue
            if response.status in RETRY and attempt < self._retries:
                continue
            return response
        raise problem

    def status(self):
        return self.request(Command.STATUS).status

    def self_test(self, count, *, records, wait_s):
        """Run the first ``count`` of the self-test's images in the board's flash through its
        network; return the answer's fields (``hw.board.protocol.self_test_fields``: ``correct``,
        ``cycles``, ``data_crc``).

        ``records``: the bytes of those images' records as the host knows them (pixels, then
        label: ``hw.board.flash_image.make_test_image``), whose CRC the answer's must equal.
        ``wait_s``: how long the run may take (the flash's time for its bytes, and more).

        Raises
        ------
        LinkError
            An error answer, or the flash's images are not the host's.
        """
        response = checked(self.request(Command.SELF_TEST, count.to_bytes(2, "big"),
                                        wait_s=wait_s))
        fields = self_test_fields(response)
        if fields["data_crc"] != crc32(records):
            raise LinkError(f"the board read other test images from its flash than the host's "
                            f"{count:,} (CRC {fields['data_crc']:#010x}, the host's "
                            f"{crc32(records):#010x}): write them with `python -m hw.build "
                            f"--program`")
        return fields

    def classify_stream(self, images, *, depth=2):
        """Classify each of ``images`` (sequences of pixels), streaming: each request goes out
        before the answer to the one before is read, so that the board receives the next image
        while it classifies and answers one (at most one request beyond the one being
        answered, as ``docs/protocol.md`` allows). Yields the answers in order (status OK).

        ``depth=1``: each request only after the answer to the one before. A network that
        takes its image's pixels slower than the UART brings the next image (a folded
        convolution: ``sim.board_host.stream_depth``) needs it: the board's one image buffer
        would otherwise take the next image's pixels over the one still going in.

        An answer that fails a check (or an error answer that a second try may cure) stops
        the stream: once the line is quiet, that request goes again on its own through
        :meth:`request` (with its retry), then the one sent after it, and streaming goes on.

        Raises
        ------
        LinkError
            An answer's status is an error that a second try does not cure.
        hw.board.protocol.ProtocolError
            No valid answer to a request, after the retry.
        """
        if depth not in (1, 2):
            raise ValueError(f"depth must be 1 or 2 (requests on the line), not {depth!r}")
        window = []  # (seq, payload) of the requests sent and not yet answered
        for pixels in images:
            self._send_classify(bytes(pixels), window)
            if len(window) == depth:
                yield self._stream_answer(window)
        while window:
            yield self._stream_answer(window)

    def _send_classify(self, payload, window):
        seq = self._next_seq()
        self._transport.write(request_bytes(Command.CLASSIFY, seq=seq, payload=payload))
        window.append((seq, payload))

    def _stream_answer(self, window):
        """The answer to the oldest request of ``window``, which it leaves."""
        seq, payload = window.pop(0)
        try:
            response = decode_response(self._transport.read(frame_bytes(self._classes)),
                                       classes=self._classes)
        except ProtocolError:
            response = None
        if response is not None and response.seq == seq and response.status not in RETRY:
            return checked(response)
        # out of step, garbled or refused: from a quiet line, this request on its own, then
        # the one after it again (its answer was dropped with the line's bytes)
        self.retried += 1
        self._transport.discard()
        later = [p for _, p in window]
        window.clear()
        response = checked(self.request(Command.CLASSIFY, payload))
        for p in later:
            self.retried += 1
            self._send_classify(p, window)
        return response

    def classify(self, pixels):
        """Classify one image; return the answer (status OK) or raise :class:`LinkError`."""
        return checked(self.request(Command.CLASSIFY, bytes(pixels)))


class SerialTransport:
    """A serial port as a transport for :class:`Link` (pyserial).

    Parameters
    ----------
    port : str
        For example ``/dev/ttyUSB1`` (Linux) or ``COM4``.
    baud : int
        The rate the bitstream was built for (``python -m hw.build --baud``).
    timeout : float
        Seconds to wait for an answer's bytes.
    """

    def __init__(self, port, *, baud=BAUD, timeout=1.0):
        import serial  # pyserial
        try:
            self._serial = serial.Serial(port, baud, timeout=timeout)
        except (serial.SerialException, OSError) as e:
            raise LinkError(f"cannot open {port}: {e}. Is the board connected? On Linux the "
                            f"iCEBreaker's UART is the FTDI's second port (often "
                            f"/dev/ttyUSB1)") from None

    def write(self, data):
        self._serial.write(bytes(data))

    def read(self, count, wait_s=None):
        if wait_s is None:
            return self._serial.read(count)
        timeout, self._serial.timeout = self._serial.timeout, max(wait_s, self._serial.timeout)
        try:
            return self._serial.read(count)
        finally:
            self._serial.timeout = timeout

    def discard(self):
        # the board answers a garbled burst once the line has been quiet for its timeout
        # (50 ms): read until nothing comes for the port's timeout
        while self._serial.read(4096):
            pass
        self._serial.reset_input_buffer()

    def close(self):
        self._serial.close()


class SerialBoard(Link):
    """The board over a serial port (the iCEBreaker's FT2232H, second channel): a
    :class:`Link` over a :class:`SerialTransport`."""

    def __init__(self, port, *, classes, baud=BAUD, timeout=1.0):
        check_count("classes", classes, minimum=2)
        self._port = SerialTransport(port, baud=baud, timeout=timeout)
        super().__init__(self._port, classes=classes)

    def close(self):
        self._port.close()

"""The host's side of the UART protocol: a board running the design, over a serial port."""

from hw.params import check_count
from .defaults import BAUD
from .protocol import Command, Status, classify_request, decode_response, frame_bytes

__all__ = ["LinkError", "SerialBoard", "checked"]


class LinkError(RuntimeError):
    """The board cannot be reached, or answered with an error status."""


def checked(response):
    if response.status != Status.OK:
        hints = {Status.NOT_READY: "the weights are still loading from flash; try again in a "
                                   "moment",
                 Status.BAD_WEIGHTS: "the weights image in flash is missing or corrupt: run "
                                     "`python -m hw.build --program`",
                 Status.TIMEOUT: "the image was cut short on the line",
                 Status.UNKNOWN_COMMAND: "the board did not understand the request"}
        raise LinkError(f"the board answered {response.status.name}: {hints[response.status]}")
    return response


class SerialBoard:
    """The board over a serial port (the iCEBreaker's FT2232H, second channel).

    Parameters
    ----------
    port : str
        For example ``/dev/ttyUSB1`` (Linux) or ``COM4``.
    classes : int
        Logits per image of the network the board runs (``q8.weights.Network.classes``): the
        response frame's size depends on it.
    baud : int
        The rate the bitstream was built for (``python -m hw.build --baud``).
    timeout : float
        Seconds to wait for an answer.
    """

    def __init__(self, port, *, classes, baud=BAUD, timeout=1.0):
        check_count("classes", classes, minimum=2)
        self._classes = classes
        import serial  # pyserial
        try:
            self._serial = serial.Serial(port, baud, timeout=timeout)
        except (serial.SerialException, OSError) as e:
            raise LinkError(f"cannot open {port}: {e}. Is the board connected? On Linux the "
                             f"iCEBreaker's UART is the FTDI's second port (often "
                             f"/dev/ttyUSB1)") from None

    def request(self, data):
        """Send ``data``; return the decoded answer (any status)."""
        self._serial.reset_input_buffer()  # a stale or garbled byte must not shift the frame
        self._serial.write(bytes(data))
        return decode_response(self._serial.read(frame_bytes(self._classes)),
                               classes=self._classes)

    def status(self):
        return self.request(bytes([Command.STATUS])).status

    def classify(self, pixels):
        """Classify one image; returns the response (status OK) or raises LinkError."""
        return checked(self.request(classify_request(pixels)))

    def close(self):
        self._serial.close()

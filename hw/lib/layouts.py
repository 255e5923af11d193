"""The payloads that flow between the pipeline's stages."""

from amaranth.hdl import signed, unsigned
from amaranth.lib import data

__all__ = ["code_shape", "element_layout", "result_layout"]


def code_shape(fmt):
    """The 8-bit shape of a code of ``fmt`` (a ``q8.contract.Format``)."""
    return signed(8) if fmt.signed else unsigned(8)


def element_layout(count, fmt):
    """One transfer: ``count`` codes of ``fmt`` (the channels of one pixel, or one group of a
    dense layer's outputs) and ``last``, set on the last transfer of an image."""
    return data.StructLayout({"data": data.ArrayLayout(code_shape(fmt), count), "last": 1})


def result_layout(classes):
    """The pipeline's answer for one image: the class and every logit code."""
    return data.StructLayout({"cls": range(classes),
                              "logits": data.ArrayLayout(signed(8), classes)})

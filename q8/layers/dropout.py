"""Dropout (``dropout``, token ``drop<R>``): a kind of architectures only.

It is trained with and gone at inference, so it has no config, no manifest entry and no
reference operation: the weights loader and the reference refuse it like any kind they do not
know. It is registered so that an architecture (``q8.arch``), the Keras model built from it
and the importer all read it from the one registry.
"""

from .kind import Kind

__all__ = ["KIND"]


def _parse(m):
    rate = float(m["rate"])
    if not 0 < rate < 1:
        raise ValueError(f"{m[0]}: a dropout rate is between 0 and 1")
    return {"kind": "dropout", "rate": rate}


def _format(entry):
    return f"drop{entry['rate']:g}"


KIND = Kind(name="dropout", config=None, base=None, token=r"drop(?P<rate>0?\.\d+)",
            token_help="drop<rate> (drop0.5)", parse=_parse, format=_format)

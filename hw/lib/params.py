"""Checks shared by the stages' constructors."""

from q8.weights import check_param

__all__ = ["check_params", "check_count"]


def check_params(config, weight, bias):
    """``weight`` and ``bias`` must be int8 arrays of the shapes ``config`` implies
    (:func:`q8.weights.check_param`: one check for the weights file and the stages)."""
    check_param(config, "weight", weight)
    check_param(config, "bias", bias)


def check_count(name, value, *, minimum=1):
    """``value`` must be an integer of at least ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}, not {value!r}")

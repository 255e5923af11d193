"""Checks shared by the stages' constructors."""

import numpy as np

__all__ = ["check_params", "check_count"]


def check_params(config, weight, bias):
    """``weight`` and ``bias`` must be int8 arrays of the shapes ``config`` implies."""
    for name, array, shape in (("weight", weight, config.weight_shape),
                               ("bias", bias, config.bias_shape)):
        if not isinstance(array, np.ndarray) or array.dtype != np.int8 or array.shape != shape:
            raise ValueError(f"{config.name}: {name} must be an int8 array of shape {shape}, "
                             f"not {getattr(array, 'dtype', type(array).__name__)} "
                             f"{getattr(array, 'shape', '')}")


def check_count(name, value, *, minimum=1):
    """``value`` must be an integer of at least ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}, not {value!r}")

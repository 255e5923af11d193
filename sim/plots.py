"""Pictures of a network and its results, as PNG files: the value ranges of every layer against
its 8-bit formats (:func:`plot_ranges`, ``python -m sim.describe --plot``), the confusion
matrix and the misclassified images (:func:`plot_confusion`, :func:`plot_errors`,
``python -m sim.evaluate --confusion ... --errors ...``).

matplotlib is an optional extra (``pip install -e '.[plot]'``): it is imported only when a
picture is drawn, and without it :class:`PlotError` says how to install it. The figures are
drawn with :class:`matplotlib.figure.Figure` on the Agg canvas, never through ``pyplot``, so
no global state or window is involved.
"""

import math
import os

import numpy as np

__all__ = ["INSTALL_HINT", "PlotError", "check_png", "confusion_matrix", "plot_confusion",
           "plot_errors", "plot_ranges", "require_matplotlib"]

#: What :class:`PlotError` says when matplotlib is not installed.
INSTALL_HINT = "drawing needs matplotlib: pip install -e '.[plot]'"

# Points: legible at the figures' 100 dpi.
_TITLE, _LABEL, _TEXT = 13, 10, 9


class PlotError(RuntimeError):
    """A picture that cannot be drawn: matplotlib is missing, or its path is not a writable
    ``.png`` file."""


def _figure(layout="constrained", **kwargs):
    """A new :class:`matplotlib.figure.Figure` (``PlotError`` without matplotlib)."""
    try:
        # matplotlib first: a cached matplotlib.figure would hide that it is gone
        import matplotlib  # noqa: F401
        from matplotlib.figure import Figure
    except ImportError as e:
        raise PlotError(INSTALL_HINT) from e
    return Figure(layout=layout, **kwargs)


def require_matplotlib():
    """Raise :class:`PlotError` with the install hint if matplotlib cannot be imported; the
    command lines call it before their long work."""
    _figure()


def check_png(path, option="the picture's path"):
    """Check that a picture can be written to ``path`` before any work is done.

    Parameters
    ----------
    path : str
        Must end in ``.png`` and lie in an existing, writable directory.
    option : str
        How the user gave ``path`` (e.g. ``"--plot"``), named in the message.

    Raises
    ------
    PlotError
        Naming the problem and the fix.
    """
    if not str(path).lower().endswith(".png"):
        raise PlotError(f"{option} {path!r} does not end in .png: pictures are written as "
                        f"PNG; give a file name ending in .png")
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise PlotError(f"{option} {path!r} is a directory: give a file name ending in .png")
    if not os.path.isdir(folder):
        what = "is not a directory" if os.path.exists(folder) else "does not exist"
        raise PlotError(f"{option} {path!r}: the directory {folder!r} {what}; create it or "
                        f"choose another path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PlotError(f"{option} {path!r}: the directory {folder!r} is not writable; "
                        f"choose another path")
    return path


def _save(fig, path):
    try:
        fig.savefig(path, dpi=100)
    except OSError as e:
        raise PlotError(f"cannot write {path!r}: {e.strerror or e}; choose another path") from e


def _count_panel(ax, counts, fmt, *, what, ylabel):
    """One histogram of codes on the real-value axis, with ``fmt``'s range shaded and the
    saturated share written in the panel."""
    from .observe import code_range, saturated
    step = 2.0 ** -fmt.frac
    lo, hi = float(fmt.dequantize(fmt.min)), float(fmt.dequantize(fmt.max))
    ax.axvspan(lo - step / 2, hi + step / 2, color="tab:green", alpha=0.12, lw=0)
    for limit in (lo, hi):
        ax.axvline(limit, color="tab:green", ls="--", lw=1)
    # one bar per code, drawn as a single outline from the log axis' floor (fast: one artist)
    edges = fmt.dequantize(np.arange(fmt.min, fmt.max + 2)) - step / 2
    floor = 0.5
    ax.stairs(np.maximum(counts, floor), edges, baseline=floor, fill=True, color="tab:blue")
    # a red line at each limit where values saturate (an unsigned 0 is the ReLU: never)
    for value, count in ((hi, counts[-1]), (lo, counts[0] if fmt.signed else 0)):
        if count:
            ax.axvline(value, color="tab:red", lw=2)
    ax.set_yscale("log")
    from matplotlib.ticker import NullLocator
    ax.yaxis.set_minor_locator(NullLocator())  # powers of ten only (and faster layout)
    # room above the bars for the text, and at least two decades so that 1 and 10 are marked
    ax.set_ylim(floor, max(20.0, float(counts.max()) * 40))
    pad = (hi - lo) * 0.06
    ax.set_xlim(lo - pad, hi + pad)
    total = int(counts.sum())
    share = saturated(counts, fmt) / total if total else 0.0
    seen = code_range(counts, fmt)
    seen_text = "none" if seen is None else \
        f"[{fmt.dequantize(seen[0]):.4g}, {fmt.dequantize(seen[1]):.4g}]"
    limits = f"{fmt.min} or {fmt.max}" if fmt.signed else f"{fmt.max}"
    ax.text(0.02, 0.97, f"{total:,} values, seen {seen_text}\n"
                        f"saturated (code {limits}): {100 * share:.3f} %",
            transform=ax.transAxes, va="top", ha="left", fontsize=_TEXT,
            color="tab:red" if share else "black",
            bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none"})
    ax.set_title(f"{what}: {fmt}, range [{lo:.4g}, {hi:.4g}], step {step:.4g}",
                 fontsize=_LABEL)
    ax.set_xlabel("real value", fontsize=_TEXT)
    if ylabel:
        ax.set_ylabel("count (log)", fontsize=_TEXT)
    ax.tick_params(labelsize=_TEXT)


def plot_ranges(net, images, path, *, observed=None, title=None):
    """Draw every convolution's and dense layer's weights, biases and output codes on the
    real-value axis against their 8-bit formats, in the spirit of hls4ml's profiling plots.

    Each panel is a histogram (one bar per code, log counts) with the format's representable
    range ``[min, max] * 2**-frac`` shaded, red lines where values saturate, and the saturated
    share written in it: codes at the format's max, and at its min for a signed format (an
    unsigned output's 0 is the ReLU). The outputs are those of the integer reference
    (``q8.reference.run``) on ``images``, counted by ``sim.describe.observe``.

    Parameters
    ----------
    net : q8.weights.Network
    images : array-like
        uint8 images to run; unused when ``observed`` is given.
    path : str
        The ``.png`` file to write.
    observed : sim.describe.Observed, optional
        ``sim.describe.observe(net, images)`` if already computed.
    title : str, optional
        The figure's title; by default one naming the number of images.

    Raises
    ------
    PlotError
        Without matplotlib, or if ``path`` cannot be written.
    """
    from .observe import code_counts, observe
    layers = net.mac_layers
    fig = _figure(figsize=(16, 3.3 * len(layers) + 0.8))
    if observed is None:
        observed = observe(net, images)
    axes = fig.subplots(len(layers), 3, squeeze=False)
    for row, layer in zip(axes, layers):
        params = net.params[layer.name]
        for col, (ax, what, fmt, counts) in enumerate(zip(row, (
                f"{layer.name} weights", f"{layer.name} biases",
                f"{layer.name} outputs{' (ReLU)' if layer.relu else ''}"),
                (layer.weight, layer.bias, layer.output),
                (code_counts(params["weight"], layer.weight),
                 code_counts(params["bias"], layer.bias),
                 observed.codes[layer.name]))):
            _count_panel(ax, counts, fmt, what=what, ylabel=col == 0)
    if title is None:
        title = (f"Value ranges against the 8-bit formats (shaded: representable; red: "
                 f"saturated); outputs on {observed.images:,} images")
    fig.suptitle(title, fontsize=_TITLE)
    _save(fig, path)


def confusion_matrix(labels, predicted, classes):
    """Count each (true class, predicted class) pair.

    Parameters
    ----------
    labels, predicted : array-like of int
        The true and the predicted class of each image, same length, each in
        ``range(classes)``.
    classes : int

    Returns
    -------
    numpy.ndarray
        int64 ``(classes, classes)``: row ``t``, column ``p`` counts the images of class ``t``
        predicted as ``p``.
    """
    labels, predicted = np.asarray(labels).ravel(), np.asarray(predicted).ravel()
    if len(labels) != len(predicted):
        raise ValueError(f"labels and predicted must have the same length, not "
                         f"{len(labels)} and {len(predicted)}")
    for name, values in (("labels", labels), ("predicted", predicted)):
        if len(values) and (values.min() < 0 or values.max() >= classes):
            raise ValueError(f"{name} must be classes in [0, {classes - 1}], not values in "
                             f"[{values.min()}, {values.max()}]")
    pairs = labels.astype(np.int64) * classes + predicted.astype(np.int64)
    return np.bincount(pairs, minlength=classes * classes).reshape(classes, classes)


def plot_confusion(labels, predicted, path, *, classes=None, title="Confusion matrix"):
    """Draw the confusion matrix: true class on rows, predicted on columns, the count in each
    cell, the accuracy in the title. The diagonal (correct) is shaded in blue, the errors in
    red, each on its own scale so that a few errors stand out beside a thousand hits.

    Parameters
    ----------
    labels, predicted : array-like of int
    path : str
        The ``.png`` file to write.
    classes : int, optional
        Number of classes; by default the largest class in the data plus one.
    title : str

    Raises
    ------
    PlotError
        Without matplotlib, or if ``path`` cannot be written.
    """
    labels, predicted = np.asarray(labels).ravel(), np.asarray(predicted).ravel()
    if classes is None:
        classes = int(max(labels.max(initial=0), predicted.max(initial=0))) + 1
    counts = confusion_matrix(labels, predicted, classes)
    fig = _figure(figsize=(1.0 + 0.62 * classes, 1.3 + 0.6 * classes))
    from matplotlib import colormaps
    diagonal = np.eye(classes, dtype=bool)
    hits_max = max(1, int(counts[diagonal].max(initial=0)))
    miss_max = max(1, int(counts[~diagonal].max(initial=0)))
    # the diagonal from 0.25 to 0.9 of Blues, errors from 0.15 to 0.85 of Reds, 0 white
    rgba = np.ones((classes, classes, 4))
    level = np.where(diagonal, counts / hits_max, counts / miss_max)
    shade = np.where(diagonal, 0.25 + 0.65 * level, 0.15 + 0.7 * level)
    rgba[diagonal] = colormaps["Blues"](shade[diagonal])
    rgba[~diagonal] = colormaps["Reds"](shade[~diagonal])
    rgba[counts == 0] = (1, 1, 1, 1)
    ax = fig.subplots()
    ax.imshow(rgba, interpolation="nearest")
    size = _TEXT if classes <= 10 else max(5, _TEXT - (classes - 10) // 3)
    for t in range(classes):
        for p in range(classes):
            n = int(counts[t, p])
            colour = "white" if n and shade[t, p] > 0.6 else ("#999999" if not n else "black")
            ax.text(p, t, f"{n}", ha="center", va="center", fontsize=size, color=colour)
    ax.set_xticks(range(classes))
    ax.set_yticks(range(classes))
    ax.tick_params(labelsize=_LABEL, top=False)
    ax.set_xlabel("predicted class", fontsize=_LABEL + 1)
    ax.set_ylabel("true class", fontsize=_LABEL + 1)
    n, correct = int(counts.sum()), int(np.trace(counts))
    accuracy = 100 * correct / n if n else 0.0
    ax.set_title(f"{title}\n{correct:,}/{n:,} correct = {accuracy:.2f} % accuracy",
                 fontsize=_TITLE - 1)
    _save(fig, path)


def plot_errors(images, labels, predicted, path, *, limit=64, columns=8,
                title="Misclassified images"):
    """Draw the misclassified images in a grid, in order, each titled with its true and its
    predicted class (and its index under it); the figure's title counts all the errors.

    Parameters
    ----------
    images : array-like
        ``(N, H, W)`` or ``(N, H, W, 1)`` uint8 greyscale pixels, 0 the background (MNIST's
        convention); drawn as dark ink on white.
    labels, predicted : array-like of int, ``(N,)``
    path : str
        The ``.png`` file to write.
    limit : int
        Draw at most this many (the first ones).
    columns : int
        Images per row.
    title : str

    Raises
    ------
    PlotError
        Without matplotlib, or if ``path`` cannot be written.
    """
    if not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, not {limit!r}")
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    labels, predicted = np.asarray(labels).ravel(), np.asarray(predicted).ravel()
    if images.ndim != 3 or not len(images) == len(labels) == len(predicted):
        raise ValueError(f"images must be (N, H, W) with N labels and N predictions, not "
                         f"{images.shape} with {len(labels)} and {len(predicted)}")
    wrong = np.flatnonzero(labels != predicted)
    shown = wrong[:limit]
    if not len(shown):
        fig = _figure(figsize=(6, 2))
        fig.text(0.5, 0.5, f"no misclassified images\n(all {len(labels):,} correct)",
                 ha="center", va="center", fontsize=_TITLE)
        fig.suptitle(title, fontsize=_TITLE)
        _save(fig, path)
        return
    columns = min(columns, len(shown))
    rows = math.ceil(len(shown) / columns)
    # One mosaic in one axes: 64 axes would take seconds to build and lay out. A cell is the
    # image with room for its title above and its index below, in pixel units; 1.5 inches wide.
    h, w = images.shape[1:3]
    above, below, gap = h * 0.4, h * 0.25, w * 0.25
    cell_w, cell_h = w + gap, h + above + below
    inch = 1.5 / cell_w
    more = f"; the first {len(shown)} shown" if len(shown) < len(wrong) else ""
    heading = (f"{title}: {len(wrong):,} of {len(labels):,} "
               f"({100 * len(wrong) / len(labels):.2f} %){more}")
    # wide enough for the title too (about 0.55 em a character); the mosaic keeps its aspect
    # and is centred
    width = max(columns * cell_w * inch, len(heading) * _TITLE * 0.55 / 72) + 0.3
    height = rows * cell_h * inch + 0.6
    fig = _figure(layout=None, figsize=(width, height))
    ax = fig.add_axes((0.15 / width, 0.05 / height, 1 - 0.3 / width, 1 - 0.65 / height))
    ax.set_axis_off()
    ax.set_xlim(0, columns * cell_w)
    ax.set_ylim(rows * cell_h, 0)  # rows downwards, like an image
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle
    frames = []
    for n, i in enumerate(shown):
        x = (n % columns) * cell_w + gap / 2
        y = (n // columns) * cell_h + above
        ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=255, interpolation="nearest",
                  extent=(x, x + w, y + h, y))
        frames.append(Rectangle((x, y), w, h))
        ax.text(x + w / 2, y - above * 0.15, f"true {labels[i]} → pred {predicted[i]}",
                ha="center", va="bottom", fontsize=_TEXT + 1)
        ax.text(x + w / 2, y + h + below * 0.1, f"#{i}", ha="center", va="top",
                fontsize=_TEXT - 1, color="#555555")
    ax.add_collection(PatchCollection(frames, facecolor="none", edgecolor="#cccccc", lw=0.8))
    fig.suptitle(heading, fontsize=_TITLE)
    _save(fig, path)

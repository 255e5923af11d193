"""``python -m sim.describe``: print a weights file's layers, formats and accumulator widths,
with the value ranges the integer reference sees on the MNIST training set (or ``--data``'s).

``--plot FILE.png`` also draws them (``sim.plots.plot_ranges``: every layer's weights, biases
and outputs against its formats, with the saturated shares; needs matplotlib,
``pip install -e '.[plot]'``)."""

import argparse
import os
import sys
from q8 import dataset, mnist
from q8.layers import network_kind
from q8.weights import DEFAULT_WEIGHTS, WeightsError, load
from .observe import code_range, observe, saturated
from .plots import PlotError, check_png, plot_ranges, require_matplotlib

__all__ = ["describe"]


def describe(net, images=None, *, observed=None):
    """A table of the network's layers; with ``images``, also the ranges seen on them (or
    with ``observed``, :func:`observe`'s result on them, to run the reference only once)."""
    lines = [f"input  {'x'.join(map(str, net.input_shape))}  {net.input} (value = byte / 256)"]
    if observed is None and images is not None and len(images):
        observed = observe(net, images)
    codes = accs = {}
    if observed is not None and observed.images:
        codes, accs = observed.codes, observed.accumulators
        lines.append(f"(ranges seen on {observed.images} images)")
    name_width = max(7, *(len(l.name) + 1 for l in net.layers))
    kind_width = max(len(l.kind) for l in net.layers) + 1
    for layer in net.layers:
        shape = f"{'x'.join(map(str, layer.in_shape))} -> {'x'.join(map(str, layer.out_shape))}"
        lines.append(f"{layer.name:<{name_width}}{layer.kind:<{kind_width}}{shape}")
        if not layer.has_params:
            lines.append(f"         {network_kind(layer.kind).summary(layer)}")
        else:
            lo, hi = layer.acc_range
            lines.append(f"         weight {layer.weight}  bias {layer.bias} (<< "
                         f"{layer.bias_shift})  output {layer.output} "
                         f"({'ReLU, ' if layer.relu else ''}round half up >> {layer.out_shift})")
            lines.append(f"         accumulator {layer.acc_width} bits, 2^-{layer.acc_frac}: "
                         f"worst case [{lo}, {hi}], fan-in {layer.fan_in}")
            if layer.name in accs:
                a_lo, a_hi = accs[layer.name]
                lines.append(f"         accumulator seen [{a_lo}, {a_hi}]")
        if layer.name in codes:
            fmt, counts = layer.output, codes[layer.name]
            c_lo, c_hi = code_range(counts, fmt)
            frac = saturated(counts, fmt) / counts.sum()
            lines.append(f"         output codes seen [{c_lo}, {c_hi}] = "
                         f"[{fmt.dequantize(c_lo):.4g}, {fmt.dequantize(c_hi):.4g}], "
                         f"{100 * frac:.3f} % at a saturation limit")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m sim.describe", description=__doc__,
                                epilog="exit status: 0 done, 1 the picture could not be written, "
                                       "2 bad input or usage")
    p.add_argument("--weights", default=DEFAULT_WEIGHTS, help="weights file (.npz)")
    p.add_argument("--images", type=int, default=None,
                   help="observe ranges on the first N training images (default: all 60,000; "
                        "0 to skip)")
    p.add_argument("--data", metavar="FILE.npz",
                   help="the training images of your data set instead of MNIST's "
                        "(docs/datasets.md)")
    p.add_argument("--plot", metavar="FILE.png",
                   help="also draw the weights', biases' and outputs' ranges against their "
                        "formats, with the saturated shares, as a PNG (needs matplotlib: "
                        "pip install -e '.[plot]')")
    args = p.parse_args(argv)
    if args.images is not None and not 0 <= args.images <= 60000:
        p.error(f"--images must be between 0 and 60000, not {args.images}")
    if args.plot is not None and args.images == 0:
        p.error("--plot draws the ranges seen on training images: drop --images 0")
    try:
        if args.plot is not None:  # before the long work
            check_png(args.plot, "--plot")
            require_matplotlib()
    except PlotError as e:
        p.exit(2, f"error: {e}\n")
    try:
        net = load(args.weights)
        images = None
        if args.images != 0:  # the layers alone need no MNIST-shaped input
            data = dataset.load(args.data)
            dataset.check_network(net, data, args.weights)
            images = data.x_train[:args.images]
    except (WeightsError, mnist.MnistError, dataset.DatasetError) as e:
        p.exit(2, f"error: {e}\n")
    observed = observe(net, images) if images is not None and len(images) else None
    print(describe(net, images, observed=observed))
    if args.plot is not None:
        try:
            name = os.path.basename(args.weights)
            plot_ranges(net, images, args.plot, observed=observed,
                        title=f"{name}: value ranges against the 8-bit formats (shaded: "
                              f"representable; red: saturated); outputs on "
                              f"{observed.images:,} training images")
        except PlotError as e:
            p.exit(1, f"error: {e}\n")  # the picture could not be written
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

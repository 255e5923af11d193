"""``python -m sim.describe``: print a weights file's layers, formats and accumulator widths,
with the value ranges the integer reference sees on the MNIST training set."""

import argparse
import sys

import numpy as np

from q8 import mnist, reference
from q8.contract import MaxPool2DConfig
from q8.weights import DEFAULT_WEIGHTS, WeightsError, load

__all__ = ["describe"]


def _observe(net, images, chunk=10000):
    """Per layer: (min code, max code, saturated fraction) and (min acc, max acc)."""
    seen, accs, sat = {}, {}, {}
    for start in range(0, len(images), chunk):
        r = reference.run(net, images[start:start + chunk], intermediates=True,
                          accumulators=True)
        for layer in net.layers:
            out = r.layers[layer.name]
            lo, hi = int(out.min()), int(out.max())
            old = seen.get(layer.name, (lo, hi))
            seen[layer.name] = (min(lo, old[0]), max(hi, old[1]))
            fmt = layer.output
            sat[layer.name] = sat.get(layer.name, 0) + int(np.sum(out == fmt.max)) + \
                (int(np.sum(out == fmt.min)) if fmt.signed else 0)
            if layer.name in r.accumulators:
                a = r.accumulators[layer.name]
                old = accs.get(layer.name, (int(a.min()), int(a.max())))
                accs[layer.name] = (min(int(a.min()), old[0]), max(int(a.max()), old[1]))
    return seen, accs, sat


def describe(net, images=None):
    """A table of the network's layers; with ``images``, also the ranges seen on them."""
    lines = [f"input  {'x'.join(map(str, net.input_shape))}  {net.input} (value = byte / 256)"]
    seen = accs = sat = {}
    if images is not None and len(images):
        seen, accs, sat = _observe(net, images)
        per_image = {l.name: int(np.prod(l.out_shape)) for l in net.layers}
        lines.append(f"(ranges seen on {len(images)} images)")
    for layer in net.layers:
        shape = f"{'x'.join(map(str, layer.in_shape))} -> {'x'.join(map(str, layer.out_shape))}"
        lines.append(f"{layer.name:<7}{layer.kind:<10}{shape}")
        if isinstance(layer, MaxPool2DConfig):
            lines.append(f"         pool {layer.pool[0]}x{layer.pool[1]}, codes keep "
                         f"{layer.format}")
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
        if layer.name in seen:
            c_lo, c_hi = seen[layer.name]
            fmt = layer.output
            frac = sat[layer.name] / (per_image[layer.name] * len(images))
            lines.append(f"         output codes seen [{c_lo}, {c_hi}] = "
                         f"[{fmt.dequantize(c_lo):.4g}, {fmt.dequantize(c_hi):.4g}], "
                         f"{100 * frac:.3f} % at a saturation limit")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m sim.describe", description=__doc__,
                                epilog="exit status: 0 done, 2 bad input or usage")
    p.add_argument("--weights", default=DEFAULT_WEIGHTS, help="weights file (.npz)")
    p.add_argument("--images", type=int, default=None,
                   help="observe ranges on the first N training images (default: all 60,000; "
                        "0 to skip)")
    args = p.parse_args(argv)
    if args.images is not None and not 0 <= args.images <= 60000:
        p.error(f"--images must be between 0 and 60000, not {args.images}")
    try:
        net = load(args.weights)
        images = None
        if args.images != 0:  # the layers alone need no MNIST-shaped input
            mnist.check_network(net, args.weights)
            images = mnist.load().x_train[:args.images]
    except (WeightsError, mnist.MnistError) as e:
        p.exit(2, f"error: {e}\n")
    print(describe(net, images))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Testbench helpers for ``amaranth.lib.stream`` ports (async testbenches, Amaranth 0.5).

Each helper drives one side of one stream. ``rng`` adds random gaps in ``valid`` (producer) or
random back-pressure on ``ready`` (consumer), so every test can exercise the stream rules.
"""

__all__ = ["stream_put", "stream_get", "put_images"]


async def stream_put(ctx, stream, payload, *, rng=None, gap=0.0):
    """Send one transfer; with ``rng``, first idle for random cycles (probability ``gap``)."""
    while rng is not None and rng.random() < gap:
        await ctx.tick()
    ctx.set(stream.payload, payload)
    ctx.set(stream.valid, 1)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream, *, rng=None, stall=0.0):
    """Receive one transfer; with ``rng``, hold ``ready`` low on random cycles (probability
    ``stall``). Returns the payload (a ``data.Const`` for layouts)."""
    while True:
        ready = not (rng is not None and rng.random() < stall)
        ctx.set(stream.ready, ready)
        _, _, payload, valid = await ctx.tick().sample(stream.payload, stream.valid)
        if ready and valid:
            ctx.set(stream.ready, 0)
            return payload


async def put_images(ctx, stream, images, *, in_width, rng=None, gap=0.0):
    """Send ``images`` (``(N, H, W, C)`` codes) row-major, ``in_width`` codes a transfer,
    ``last`` on each image's last, as :func:`stream_put` does each transfer."""
    for image in images:
        units = image.reshape(-1, in_width)
        for n, unit in enumerate(units):
            await stream_put(ctx, stream, {"data": [int(v) for v in unit],
                                           "last": n == len(units) - 1}, rng=rng, gap=gap)

"""Nearest-neighbour upsampling followed by a convolution, as one convolution.

Upsampling by ``f`` repeats each pixel ``f`` times along an axis, so a
``k``-tap convolution of the upsampled map reads, for each of the ``f``
output phases, a few neighbouring pixels of the small map, each with the
sum of the taps that fall on it. The decoder therefore convolves the small
map with those summed kernels (``f * f`` times the output channels) and
interleaves the phases: the same function of the input and the layer's own
weights (equal up to float rounding), with no upsampled map, at a quarter
of the pixels. On CPU this makes the decoder's last block of the default
network on 28x28 images 2.5x faster (6.9 -> 2.7 ms for 128 images, one
thread, timed by hand; its convolution has one output channel, the shape
oneDNN runs worst), and a default fit about a fifth faster (benchmarks/speed.py).
"""

import functools
import math

import torch
from torch.nn import functional as F

#: Fuse only where the upsampled map has at least this many pixels: on small
#: maps the summed kernels cost more than they save (timed by hand, not by a
#: benchmark script, under a load of 3: a fit on 130 8x8 digits at n_jobs=1
#: was 12-18% slower with every map fused; MNIST fits are faster fused,
#: benchmarks/speed.py).
FUSE_MIN_PIXELS = 256


@functools.cache
def _phase_taps(kernel, factor):
    """0/1 array ``(factor, width, kernel)``: which of a ``kernel``-tap
    kernel's taps fall on each of ``width`` pixels of the small map, for each
    output phase; and the pixels read left and right of the centre."""
    r = kernel // 2
    low, high = -((r + factor - 1) // factor), (factor - 1 + r) // factor
    taps = torch.zeros(factor, high - low + 1, kernel)
    for phase in range(factor):
        for t in range(-r, r + 1):
            taps[phase, (phase + t) // factor - low, t + r] = 1.0
    return taps, -low, high


def fusable(upsample, conv, size):
    """Whether ``upsample`` then ``conv`` run as :func:`upsample_conv` on a
    map of ``size`` (h, w): a nearest upsampling by whole factors to at
    least ``FUSE_MIN_PIXELS`` pixels, then a plain stride-1 convolution of
    odd kernel with "same" zero padding. (The choice depends on the image
    size only, never on the batch.)"""
    factor = getattr(upsample, "scale_factor", None)
    factors = factor if isinstance(factor, tuple) else (factor, factor)
    k = getattr(conv, "kernel_size", (0, 0))
    return (
        isinstance(upsample, torch.nn.Upsample)
        and isinstance(conv, torch.nn.Conv2d)
        and upsample.mode == "nearest"
        and upsample.size is None
        and all(f is not None and float(f).is_integer() and f >= 1 for f in factors)
        and math.prod(size) * math.prod(int(f) for f in factors) >= FUSE_MIN_PIXELS
        and conv.stride == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
        and all(s % 2 == 1 for s in k)
        and conv.padding == (k[0] // 2, k[1] // 2)
    )


def upsample_conv(x, conv, factors):
    """``conv(upsample(x))`` for a nearest upsampling by ``factors`` (fh, fw).

    Parameters
    ----------
    x : torch.Tensor of shape (n, C, h, w)
    conv : torch.nn.Conv2d
        Checked by :func:`fusable`.
    factors : tuple of int

    Returns
    -------
    y : torch.Tensor of shape (n, conv.out_channels, h * fh, w * fw)
        In channels-last memory format.
    """
    fh, fw = (int(f) for f in factors)
    (kh, kw), c_out = conv.kernel_size, conv.out_channels
    taps_h, top, bottom = _phase_taps(kh, fh)
    taps_w, left, right = _phase_taps(kw, fw)
    weight = conv.weight
    # (c_out, fh, fw, c_in, Kh, Kw): each phase's kernel on the small map
    fused = torch.einsum(
        "pya,qxb,oiab->opqiyx",
        taps_h.to(weight),
        taps_w.to(weight),
        weight,
    ).reshape(c_out * fh * fw, weight.shape[1], *taps_h.shape[1:2], taps_w.shape[1])
    bias = None if conv.bias is None else conv.bias.repeat_interleave(fh * fw)
    fused = fused.contiguous(memory_format=torch.channels_last)
    x = x.contiguous(memory_format=torch.channels_last)
    y = F.conv2d(F.pad(x, (left, right, top, bottom)), fused, bias)
    n, _, h, w = y.shape
    # interleave the phases: (n, h, w, c_out, fh, fw) -> (n, h, fh, w, fw, c_out)
    y = y.permute(0, 2, 3, 1).reshape(n, h, w, c_out, fh, fw)
    y = y.permute(0, 1, 4, 2, 5, 3).reshape(n, h * fh, w * fw, c_out)
    return y.permute(0, 3, 1, 2)

"""The autoencoders (convolutional and fully connected) as plain :mod:`torch` modules.

Nothing in this module imports scikit-learn: it is the network alone, so it can
be trained by skorch, by a hand-written loop or exported to ONNX alike.
"""

import contextlib
import math

import torch
from torch import nn
from torch.nn import functional as F

from ._checks import positive_ints
from ._rowwise import RowwiseLinear
from ._upsample_conv import fusable, upsample_conv

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}

#: Activations that never decrease: max-pooling commutes with them.
_MONOTONE = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.Tanh, nn.Sigmoid)


def autocast(device, enabled):
    """bfloat16 autocast on ``device`` when enabled, else a no-op context.

    bfloat16 keeps float32's exponent range, so no gradient scaling is needed.
    """
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def corrupt(z, noise_std=0.0, mask_fraction=0.0, generator=None):
    """Corrupt standardised inputs ``z`` for denoising training.

    Adds Gaussian noise of standard deviation ``noise_std`` (in standardised
    units), then sets each value to 0 (the training mean) with probability
    ``mask_fraction``. Draws come from ``generator`` (a
    :class:`torch.Generator` on ``z``'s device), or torch's global generator
    when it is None; with both at 0, ``z`` is returned as is and nothing is
    drawn.
    """
    if noise_std > 0:
        noise = torch.randn(
            z.shape, generator=generator, device=z.device, dtype=z.dtype
        )
        z = z + noise_std * noise
    if mask_fraction > 0:
        keep = torch.rand(z.shape, generator=generator, device=z.device, dtype=z.dtype)
        z = z * (keep >= mask_fraction)
    return z


def init_parameters(module, generator=None):
    """(Re-)initialise every parameter of ``module`` from ``generator``.

    The same distributions as PyTorch's defaults for
    :class:`~torch.nn.Conv2d` and :class:`~torch.nn.Linear` (Kaiming-uniform
    weights, uniform biases in ``±1/sqrt(fan_in)``), drawn from a local
    :class:`torch.Generator` instead of the global one, so that networks
    built in concurrent threads are reproducible and the caller's global
    generator is left alone.
    """
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_uniform_(
                    layer.weight, a=math.sqrt(5), generator=generator
                )
                if layer.bias is not None:
                    fan_in = layer.weight[0].numel()
                    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
                    layer.bias.uniform_(-bound, bound, generator=generator)
    return module


def build_module(module_class, kwargs, *, generator=None, device="cpu"):
    """A new ``module_class(**kwargs)`` on ``device``, initialised from ``generator``.

    The module is first built on PyTorch's ``meta`` device, which allocates
    no memory and draws no random numbers, then materialised on ``device``
    and initialised by :func:`init_parameters`. Loading a saved network
    builds it the same way and overwrites every value.
    """
    with torch.device("meta"):
        module = module_class(**kwargs)
    module = module.to_empty(device=device)
    return init_parameters(module, generator)


def _max_pool(pool, h):
    """``pool(h)`` (a :class:`~torch.nn.MaxPool2d` of non-overlapping windows
    of at most 2x2), as the maximum of strided slices when no gradient is
    needed: the same values, 2.5x faster on CPU for 128 images of 8x28x28
    in channels-last format (0.64 -> 0.25 ms, one thread), a seventh of the
    network's forward pass when scoring. Training (which needs the
    argmax for its backward pass), forward-mode derivatives (the layer gives
    a tie's tangent to one element) and export keep the layer."""
    fh, fw = pool.kernel_size
    if (
        (h.requires_grad and torch.is_grad_enabled())
        or torch.autograd.forward_ad.unpack_dual(h).tangent is not None
        or torch.compiler.is_compiling()
        or pool.stride != (fh, fw)
        or pool.padding != 0
        or pool.dilation != 1
        or pool.ceil_mode
        or fh not in (1, 2)
        or fw not in (1, 2)
        or h.shape[-2] % fh
        or h.shape[-1] % fw
    ):
        return pool(h)
    if fw == 2:
        h = torch.maximum(h[..., 0::2], h[..., 1::2])
    if fh == 2:
        h = torch.maximum(h[..., 0::2, :], h[..., 1::2, :])
    return h


def check_pooling_depth(channels, height, width):
    """Refuse more pooling blocks (``channels`` entries) than images of
    ``height`` x ``width`` pixels take (:func:`max_pooling_blocks`)."""
    limit = max_pooling_blocks(height, width)
    if len(channels) > limit:
        raise ValueError(
            f"Got channels={tuple(channels)!r}: {len(channels)} pooling blocks, "
            f"but images of {height}x{width} pixels can be pooled at most "
            f"{limit} times (each block halves them); expected at most "
            f"{limit} entries, e.g. {tuple(channels)[:limit]!r}."
        )


def max_pooling_blocks(height, width):
    """How many 2x2 pooling blocks an image of this size can take.

    Each block halves every axis longer than one pixel, padding it first to
    an even size. An axis of ``s`` pixels is down to one pixel after
    ``ceil(log2(s))`` blocks; one more is allowed (the input is then padded
    to at most four times its size), more would only pad. Images of one
    pixel are never pooled, so any depth fits them.
    """
    sides = [s for s in (height, width) if s > 1]
    if not sides:
        return 64
    return min(math.ceil(math.log2(s)) + 1 for s in sides)


def _pool_factors(height, width):
    """Pool by 2 along every axis longer than one pixel (1-D data keeps H=1)."""
    return (2 if height > 1 else 1, 2 if width > 1 else 1)


def _padded(size, factor, n_blocks):
    multiple = factor**n_blocks
    return int(math.ceil(size / multiple) * multiple)


class ConvAutoencoderModule(nn.Module):
    """Convolutional autoencoder: conv+pool encoder, dense code, upsample+conv decoder.

    The module takes standardised images of shape ``(n, C, H, W)`` (each
    channel centred and scaled, as the estimators' standardisation gives
    them) and returns reconstructions of the same shape.

    Heights and widths that do not divide by ``2 ** len(channels)`` are
    zero-padded (zero is the channel mean) and the output is cropped back.
    An axis of length one is never pooled, so 1-D signals of shape
    ``(n, C, 1, W)`` work too.

    Parameters
    ----------
    input_shape : tuple of int
        ``(C, H, W)`` of one image.
    channels : sequence of int, default=(8, 8)
        Output channels of each encoder block; the decoder mirrors them.
        At most :func:`max_pooling_blocks` blocks for the image size (e.g. 4
        for 8x8 images, 6 for 28x28).
    kernel_size : int, default=3
        Odd side of every square convolution kernel ("same" padding).
    latent_dim : int, default=16
        Size of the code between encoder and decoder.
    activation : str, default="relu"
        One of ``ACTIVATIONS``.
    noise_std, mask_fraction : float, default=0.0
        Denoising: in training mode only (``module.training``), the
        standardised input is corrupted by :func:`corrupt` before encoding;
        the loss still compares the output with the clean input. Eval mode
        never corrupts. Draws come from the ``generator`` attribute (a
        :class:`torch.Generator`; None uses the global one).
    """

    def __init__(
        self,
        input_shape,
        channels=(8, 8),
        kernel_size=3,
        latent_dim=16,
        activation="relu",
        noise_std=0.0,
        mask_fraction=0.0,
    ):
        super().__init__()
        n_channels, height, width = (int(v) for v in input_shape)
        channels = positive_ints(channels, "channels", example=(8, 16))
        check_pooling_depth(channels, height, width)
        self.input_shape = (n_channels, height, width)
        self.generator = None
        self.latent_dim = int(latent_dim)
        self.noise_std = float(noise_std)
        self.mask_fraction = float(mask_fraction)
        act = ACTIVATIONS[activation]
        pad = kernel_size // 2
        n_blocks = len(channels)
        fh, fw = _pool_factors(height, width)
        self._pool = (fh, fw)
        self._padded_hw = (_padded(height, fh, n_blocks), _padded(width, fw, n_blocks))
        code_h = self._padded_hw[0] // fh**n_blocks
        code_w = self._padded_hw[1] // fw**n_blocks
        self._code_shape = (channels[-1] if channels else n_channels, code_h, code_w)

        layers, c_in = [], n_channels
        for c_out in channels:
            layers += [
                nn.Conv2d(c_in, c_out, kernel_size, padding=pad),
                act(),
                nn.MaxPool2d(self._pool),
            ]
            c_in = c_out
        self.encoder_conv = nn.Sequential(*layers)
        n_code = math.prod(self._code_shape)
        self.encoder_fc = RowwiseLinear(n_code, latent_dim)
        self.decoder_fc = nn.Sequential(RowwiseLinear(latent_dim, n_code), act())

        # The decoder mirrors the encoder: per block, upsample and a
        # convolution; the last one maps to the image's channels, linearly.
        # (An extra full-resolution convolution after the last block cost a
        # third of the training time and gained nothing measurable:
        # benchmarks/one_class.py.)
        layers = []
        rev = channels[::-1]
        for i, c in enumerate(rev):
            last = i + 1 == len(rev)
            layers += [
                nn.Upsample(scale_factor=self._pool, mode="nearest"),
                nn.Conv2d(
                    c, n_channels if last else rev[i + 1], kernel_size, padding=pad
                ),
            ]
            if not last:
                layers.append(act())
        self.decoder_conv = nn.Sequential(*layers)
        # Channels-last convolutions (and pooling/upsampling on them) run about
        # twice as fast on CPU as NCHW for these small channel counts
        # (benchmarks/overhead.py); outputs keep their shape and values.
        # float32 whatever torch's default dtype (a caller's
        # torch.set_default_dtype(torch.float64) made every fit fail)
        self.to(torch.float32, memory_format=torch.channels_last)

    def _pad(self, z):
        ph = self._padded_hw[0] - z.shape[-2]
        pw = self._padded_hw[1] - z.shape[-1]
        if ph or pw:
            z = F.pad(z, (0, pw, 0, ph))
        return z

    def encode(self, z, *, return_maps=False):
        """Map standardised images to codes.

        Parameters
        ----------
        z : torch.Tensor of shape (n, C, H, W)
            Standardised images.
        return_maps : bool, default=False
            Also return the feature maps of every encoder block (after its
            pooling), for scores built on intermediate features.

        Returns
        -------
        code : torch.Tensor of shape (n, latent_dim)
        maps : tuple of torch.Tensor
            Only with ``return_maps``: ``(n, channels[i], h_i, w_i)`` each.
        """
        if self.training:
            z = corrupt(z, self.noise_std, self.mask_fraction, self.generator)
        h = self._pad(z).contiguous(memory_format=torch.channels_last)
        maps = []
        layers = list(self.encoder_conv)
        for i in range(0, len(layers), 3):  # conv, activation, pool: one block
            conv, act, pool = layers[i : i + 3]
            h = conv(h)
            # max-pooling commutes with a non-decreasing activation, which
            # then runs on a quarter of the values (the same numbers)
            if isinstance(act, _MONOTONE):
                h = act(_max_pool(pool, h))
            else:
                h = _max_pool(pool, act(h))
            maps.append(h)
        code = self.encoder_fc(h.flatten(1))
        return (code, tuple(maps)) if return_maps else code

    def decode(self, code):
        """Map codes back to images.

        Parameters
        ----------
        code : torch.Tensor of shape (n, latent_dim)
            Codes, e.g. from :meth:`encode`.

        Returns
        -------
        images : torch.Tensor of shape (n, C, H, W)
            Standardised reconstructions.
        """
        z = self.decoder_fc(code).unflatten(1, self._code_shape)
        layers = list(self.decoder_conv)
        # an exported graph (ONNX) keeps the plain layers: the same function
        fuse = not torch.compiler.is_compiling()
        i = 0
        while i < len(layers):
            layer = layers[i]
            after = layers[i + 1] if i + 1 < len(layers) else None
            if (
                fuse
                and isinstance(layer, nn.Upsample)
                and fusable(layer, after, z.shape[-2:])
            ):
                z = upsample_conv(z, after, layer.scale_factor)
                i += 2
            else:
                z = layer(z)
                i += 1
        _, height, width = self.input_shape
        return z[..., :height, :width]

    def forward(self, z):
        return self.decode(self.encode(z))


class DenseAutoencoderModule(nn.Module):
    """Fully connected autoencoder for standardised tabular rows ``(n, n_features)``.

    The module takes rows whose features are centred and scaled (as the
    estimators' standardisation gives them) and returns reconstructions of
    the same shape.

    Parameters
    ----------
    n_features : int
        Number of input features.
    hidden_layer_sizes : sequence of int, default=(64, 32)
        Widths of the encoder's hidden layers; the decoder mirrors them.
        An empty sequence gives a linear autoencoder.
    latent_dim : int, default=8
        Size of the code.
    activation : str, default="relu"
        One of ``ACTIVATIONS``, after each hidden layer (the code and the
        output are linear).
    noise_std, mask_fraction : float, default=0.0
        Denoising corruption of the standardised input in training mode
        only, as in :class:`ConvAutoencoderModule`.

    See Also
    --------
    skcae.AutoencoderOutlierDetector : Trains this module with scikit-learn's API.

    Examples
    --------
    >>> import torch
    >>> from skcae import DenseAutoencoderModule
    >>> module = DenseAutoencoderModule(30, hidden_layer_sizes=(16,), latent_dim=4)
    >>> x = torch.zeros(5, 30)
    >>> module.encode(x).shape
    torch.Size([5, 4])
    >>> module(x).shape
    torch.Size([5, 30])
    """

    def __init__(
        self,
        n_features,
        hidden_layer_sizes=(64, 32),
        latent_dim=8,
        activation="relu",
        noise_std=0.0,
        mask_fraction=0.0,
    ):
        super().__init__()
        self.n_features = int(n_features)
        self.latent_dim = int(latent_dim)
        self.noise_std = float(noise_std)
        self.mask_fraction = float(mask_fraction)
        self.generator = None
        act = ACTIVATIONS[activation]
        sizes = [self.n_features, *(int(h) for h in hidden_layer_sizes)]

        def stack(widths, last):
            layers = []
            for w_in, w_out in zip(widths[:-1], widths[1:]):
                layers += [RowwiseLinear(w_in, w_out), act()]
            layers.append(RowwiseLinear(widths[-1], last))
            return nn.Sequential(*layers)

        self.encoder = stack(sizes, self.latent_dim)
        self.decoder = stack([self.latent_dim, *sizes[:0:-1]], self.n_features)
        self.float()  # whatever torch's default dtype

    def encode(self, z, *, return_maps=False):
        """Map standardised rows to codes.

        Parameters
        ----------
        z : torch.Tensor of shape (n, n_features)
            Standardised rows.
        return_maps : bool, default=False
            Also return the activations of every hidden layer.

        Returns
        -------
        code : torch.Tensor of shape (n, latent_dim)
        maps : tuple of torch.Tensor
            Only with ``return_maps``: ``(n, hidden_layer_sizes[i])`` each.
        """
        if self.training:
            z = corrupt(z, self.noise_std, self.mask_fraction, self.generator)
        if not return_maps:
            return self.encoder(z)
        h, maps = z, []
        for i, layer in enumerate(self.encoder):
            h = layer(h)
            if i % 2 == 1:  # linear, activation: one hidden layer
                maps.append(h)
        return h, tuple(maps)

    def decode(self, code):
        """Map codes back to rows.

        Parameters
        ----------
        code : torch.Tensor of shape (n, latent_dim)
            Codes, e.g. from :meth:`encode`.

        Returns
        -------
        rows : torch.Tensor of shape (n, n_features)
            Standardised reconstructions.
        """
        return self.decoder(code)

    def forward(self, z):
        return self.decode(self.encode(z))

"""skcae._network: the pure-torch autoencoders."""

import numpy as np
import pytest
import torch

from skcae import ConvAutoencoderModule, DenseAutoencoderModule, _upsample_conv
from skcae._network import _max_pool, build_module, corrupt, max_pooling_blocks


@pytest.mark.parametrize(
    "shape, channels",
    [
        ((1, 8, 8), (4, 8)),
        ((3, 7, 9), (4, 8)),
        ((1, 1, 30), (4,)),
        ((2, 28, 28), (8, 16)),
    ],
)
def test_output_has_the_input_shape(shape, channels):
    module = ConvAutoencoderModule(shape, channels=channels, latent_dim=3)
    x = torch.rand(5, *shape)
    assert module(x).shape == x.shape
    assert module.encode(x).shape == (5, 3)
    assert module.decode(module.encode(x)).shape == x.shape


@pytest.mark.parametrize("factors", [(2, 2), (1, 2), (2, 1), (1, 1)])
def test_scoring_pools_to_the_layers_exact_values(factors):
    pool = torch.nn.MaxPool2d(factors)
    x = torch.randn(6, 3, 8, 10, generator=torch.Generator().manual_seed(0))
    x[0, 0, 0, 0] = float("nan")  # propagated, as by the layer
    for layout in (torch.contiguous_format, torch.channels_last):
        x = x.contiguous(memory_format=layout)
        with torch.no_grad():
            fast = _max_pool(pool, x)
        torch.testing.assert_close(fast, pool(x), rtol=0, atol=0, equal_nan=True)
    # with a gradient to compute, the layer itself runs (its backward pass)
    y = _max_pool(pool, x.clone().requires_grad_())
    assert "MaxPool" in type(y.grad_fn).__name__ or factors == (1, 1)


@pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)
def test_forward_mode_derivatives_pool_through_the_layer():
    import torch.autograd.forward_ad as fwad

    pool = torch.nn.MaxPool2d((2, 2))
    x = torch.zeros(1, 1, 2, 2)  # a four-way tie
    t = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    with torch.no_grad(), fwad.dual_level():
        tangent = fwad.unpack_dual(_max_pool(pool, fwad.make_dual(x, t))).tangent
        expected = fwad.unpack_dual(pool(fwad.make_dual(x, t))).tangent
    torch.testing.assert_close(tangent, expected, rtol=0, atol=0)


def test_one_pixel_high_signals_are_pooled_along_the_width_only():
    module = ConvAutoencoderModule((1, 1, 30), channels=(4, 4), latent_dim=2)
    assert module._pool == (1, 2)
    assert module._code_shape == (4, 1, 8)  # 30 padded to 32, halved twice


def test_default_channels_are_the_estimators():
    assert ConvAutoencoderModule((1, 8, 8)).input_shape == (1, 8, 8)
    sizes = [
        m.out_channels
        for m in ConvAutoencoderModule((1, 8, 8)).encoder_conv
        if isinstance(m, torch.nn.Conv2d)
    ]
    assert sizes == [8, 8]


@pytest.mark.parametrize("side, limit", [(2, 2), (8, 4), (9, 5), (28, 6), (32, 6)])
def test_max_pooling_blocks(side, limit):
    assert max_pooling_blocks(side, side) == limit
    assert max_pooling_blocks(1, side) == limit  # signals: only W is pooled
    assert max_pooling_blocks(1, 1) == 64  # one pixel: never pooled


def test_too_deep_for_the_image_is_refused_before_allocating():
    with pytest.raises(ValueError, match=r"8x8 pixels can be pooled at most 4 times"):
        ConvAutoencoderModule((1, 8, 8), channels=(4,) * 14)


@pytest.mark.parametrize("channels", [(), (0,), (4, -1)])
def test_bad_channels(channels):
    with pytest.raises(ValueError, match="positive ints"):
        ConvAutoencoderModule((1, 8, 8), channels=channels)


def test_build_module_is_reproducible_and_leaves_the_global_generator_alone():
    state = torch.get_rng_state()
    a = build_module(
        ConvAutoencoderModule,
        {"input_shape": (1, 8, 8)},
        generator=torch.Generator().manual_seed(3),
    )
    b = build_module(
        ConvAutoencoderModule,
        {"input_shape": (1, 8, 8)},
        generator=torch.Generator().manual_seed(3),
    )
    c = build_module(
        ConvAutoencoderModule,
        {"input_shape": (1, 8, 8)},
        generator=torch.Generator().manual_seed(4),
    )
    assert torch.equal(torch.get_rng_state(), state)
    for (_, pa), (_, pb), (_, pc) in zip(
        a.state_dict().items(), b.state_dict().items(), c.state_dict().items()
    ):
        assert torch.equal(pa, pb)
    assert not torch.equal(a.encoder_fc.weight, c.encoder_fc.weight)


def test_initialisation_matches_pytorch_defaults_in_distribution():
    module = build_module(
        DenseAutoencoderModule,
        {"n_features": 400, "hidden_layer_sizes": (300,)},
        generator=torch.Generator().manual_seed(0),
    )
    weight = module.encoder[0].weight.detach()
    bound = 1 / np.sqrt(400)  # kaiming_uniform(a=sqrt(5)) gives U(-1/sqrt(fan_in), ..)
    assert float(weight.abs().max()) <= bound
    assert float(weight.std()) == pytest.approx(bound / np.sqrt(3), rel=0.05)


def test_corrupt_adds_noise_and_masks_from_the_generator():
    z = torch.ones(200, 500)
    noisy = corrupt(z, noise_std=0.5, generator=torch.Generator().manual_seed(0))
    again = corrupt(z, noise_std=0.5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(noisy, again)
    assert (noisy - z).std().item() == pytest.approx(0.5, rel=0.02)
    masked = corrupt(z, mask_fraction=0.3)
    assert set(masked.unique().tolist()) == {0.0, 1.0}
    assert (masked == 0).float().mean().item() == pytest.approx(0.3, abs=0.01)
    assert corrupt(z) is z  # nothing drawn at the defaults


@pytest.mark.parametrize(
    "make, shape, first",
    [
        (
            lambda: ConvAutoencoderModule(
                (1, 8, 8), channels=(4,), noise_std=1.0, mask_fraction=0.5
            ),
            (6, 1, 8, 8),
            "encoder_conv.0",
        ),
        (
            lambda: DenseAutoencoderModule(
                10, hidden_layer_sizes=(4,), noise_std=1.0, mask_fraction=0.5
            ),
            (6, 10),
            "encoder",
        ),
    ],
    ids=["conv", "dense"],
)
def test_corruption_in_training_mode_only(make, shape, first):
    # Watch what the encoder receives, not the output: with a 4-unit ReLU
    # layer all units can be dead at initialisation, so two different
    # corrupted inputs may still give the same (constant) output.
    torch.manual_seed(0)
    module, x = make(), torch.rand(*shape)
    seen = []
    module.get_submodule(first).register_forward_pre_hook(
        lambda _, args: seen.append(args[0].detach().clone())
    )
    module.eval()
    module(x), module(x)
    module.train()
    module(x), module(x)
    assert torch.equal(seen[0], seen[1])
    assert not torch.equal(seen[2], seen[3])
    assert not torch.equal(seen[0], seen[2])


def test_networks_take_standardised_input_and_hold_no_buffers():
    """The estimators' Standardization is the one standardisation."""
    dense = DenseAutoencoderModule(3, hidden_layer_sizes=())
    conv = ConvAutoencoderModule((1, 8, 8), channels=(4,))
    assert not list(dense.buffers()) and not list(conv.buffers())
    z = torch.zeros(1, 3)  # the encoder sees zeros: its output is its bias
    torch.testing.assert_close(dense.encode(z), dense.encoder[-1].bias[None])


def test_encode_can_return_the_blocks_feature_maps():
    conv = ConvAutoencoderModule((1, 8, 8), channels=(4, 6))
    code, maps = conv.encode(torch.zeros(2, 1, 8, 8), return_maps=True)
    assert code.shape == (2, 16)
    assert [tuple(m.shape) for m in maps] == [(2, 4, 4, 4), (2, 6, 2, 2)]
    dense = DenseAutoencoderModule(5, hidden_layer_sizes=(4, 3), latent_dim=2)
    code, maps = dense.encode(torch.zeros(2, 5), return_maps=True)
    assert [tuple(m.shape) for m in maps] == [(2, 4), (2, 3)]


@pytest.mark.parametrize(
    "shape, channels, kernel_size",
    [((1, 28, 28), (8, 8), 3), ((3, 9, 13), (4, 6), 5), ((2, 1, 20), (4, 4), 3)],
)
@pytest.mark.parametrize("min_pixels", [0, 256])
def test_the_decoder_computes_its_layers_function(
    shape, channels, kernel_size, min_pixels, monkeypatch
):
    # decode() runs an upsampling and the convolution after it as one
    # convolution of the small map (every one with min_pixels=0); it must
    # equal the plain layers, in value and in gradient
    monkeypatch.setattr(_upsample_conv, "FUSE_MIN_PIXELS", min_pixels)
    torch.manual_seed(0)
    module = ConvAutoencoderModule(shape, channels=channels, kernel_size=kernel_size)
    code = torch.randn(4, module.latent_dim)
    height, width = shape[1:]

    def plain(code):
        z = module.decoder_fc(code).unflatten(1, module._code_shape)
        return module.decoder_conv(z)[..., :height, :width]

    fused = module.decode(code)
    torch.testing.assert_close(fused, plain(code), rtol=1e-5, atol=1e-6)
    weight = module.decoder_conv[-1].weight
    (grad_fused,) = torch.autograd.grad(fused.square().sum(), weight)
    (grad_plain,) = torch.autograd.grad(plain(code).square().sum(), weight)
    torch.testing.assert_close(grad_fused, grad_plain, rtol=1e-4, atol=1e-5)


def test_only_large_maps_are_fused():
    module = ConvAutoencoderModule((1, 28, 28))
    (up_small, conv_small, _, up_large, conv_large) = module.decoder_conv
    # 7x7 -> 14x14 (196 pixels) stays plain, 14x14 -> 28x28 is fused
    assert not _upsample_conv.fusable(up_small, conv_small, (7, 7))
    assert _upsample_conv.fusable(up_large, conv_large, (14, 14))
    digits = ConvAutoencoderModule((1, 8, 8))
    up, conv = digits.decoder_conv[-2:]
    assert not _upsample_conv.fusable(up, conv, (4, 4))

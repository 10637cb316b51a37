"""Image corruptions after MNIST-C, for grey images in [0, 1].

The list follows MNIST-C (N. Mu and J. Gilmer, "MNIST-C: A Robustness
Benchmark for Computer Vision", 2019, arXiv:1906.02337): shot and impulse
noise, glass and motion blur, shear, scale, rotate, brightness, translate,
stripe, fog, spatter, dotted line, zigzag and Canny edges. The
implementations are our own, not MNIST-C's code, each at one fixed,
moderate severity chosen so that a person still reads the digit.

Every function takes images ``X`` of shape ``(n, H, W)``, floats in
[0, 1], and a :class:`numpy.random.Generator`, and returns corrupted
copies (float32 in [0, 1]); ``X`` is not changed. Per-image corruptions
draw their random numbers image by image, in order, so a result depends
only on ``X`` and the generator's state. :func:`corrupt_all` gives each
corruption its own generator. ``canny_edges`` needs scikit-image.
"""

import numpy as np
from scipy import ndimage


def _each(X, fn):
    """``fn`` applied to every image of ``X``, stacked as float32."""
    return np.stack([fn(x) for x in X]).astype(np.float32)


def shot_noise(X, rng):
    """Poisson noise: pixel = Poisson(12 x) / 12, clipped to [0, 1]."""
    c = 12.0
    return np.clip(rng.poisson(X * c) / c, 0, 1).astype(np.float32)


def impulse_noise(X, rng):
    """Salt and pepper: 3.5 % of the pixels set to 0 and 3.5 % to 1."""
    out = X.copy()
    u = rng.random(X.shape)
    out[u < 0.035] = 0.0
    out[u > 1 - 0.035] = 1.0
    return out.astype(np.float32)


def glass_blur(X, rng):
    """Gaussian blur (sigma 0.7), each pixel swapped with a random
    neighbour (one pass from the bottom-right corner), blurred again."""

    def one(x):
        x = ndimage.gaussian_filter(x, 0.7)
        h, w = x.shape
        x = x.copy()
        for i in range(h - 1, 0, -1):
            for j in range(w - 1, 0, -1):
                di, dj = rng.integers(-1, 2, size=2)
                i2, j2 = min(max(i + di, 0), h - 1), min(max(j + dj, 0), w - 1)
                x[i, j], x[i2, j2] = x[i2, j2], x[i, j]
        return ndimage.gaussian_filter(x, 0.7)

    return np.clip(_each(X, one), 0, 1)


def motion_blur(X, rng):
    """A 7-pixel line kernel at a random angle (0-180 degrees)."""

    def one(x):
        length = 7
        angle = rng.uniform(0, 180)
        k = np.zeros((length, length))
        k[length // 2, :] = 1
        k = ndimage.rotate(k, angle, reshape=False, order=1)
        k /= k.sum()
        return ndimage.convolve(x, k, mode="constant")

    return np.clip(_each(X, one), 0, 1)


def _affine(X, rng, make):
    """Each image through the affine map ``make(rng, h, w)`` -> (matrix,
    offset) about its centre (bilinear, zero outside)."""

    def one(x):
        h, w = x.shape
        m, off = make(rng, h, w)
        return ndimage.affine_transform(x, m, offset=off, order=1, mode="constant")

    return np.clip(_each(X, one), 0, 1)


def shear(X, rng):
    """Shear by a random factor of 0.3-0.5, to either side."""

    def make(rng, h, w):
        s = rng.choice([-1, 1]) * rng.uniform(0.3, 0.5)
        m = np.array([[1, 0], [s, 1]])
        c = np.array([h / 2, w / 2])
        return m, c - m @ c

    return _affine(X, rng, make)


def scale(X, rng):
    """Shrink about the centre by a random factor of 0.55-0.7."""

    def make(rng, h, w):
        f = rng.uniform(0.55, 0.7)
        m = np.eye(2) / f
        c = np.array([h / 2, w / 2])
        return m, c - m @ c

    return _affine(X, rng, make)


def rotate(X, rng):
    """Rotate by a random 35-50 degrees, either way (bilinear)."""
    out = [
        ndimage.rotate(
            x, rng.choice([-1, 1]) * rng.uniform(35, 50), reshape=False, order=1
        )
        for x in X
    ]
    return np.clip(np.stack(out), 0, 1).astype(np.float32)


def brightness(X, rng):
    """+0.4 on every pixel, clipped (``rng`` is not used)."""
    return np.clip(X + 0.4, 0, 1).astype(np.float32)


def translate(X, rng):
    """Shift by 5-7 pixels along both axes, random signs (zero fill)."""

    def one(x):
        d = rng.integers(5, 8) * rng.choice([-1, 1], size=2)
        return ndimage.shift(x, d, order=0, mode="constant")

    return _each(X, one)


def stripe(X, rng):
    """Invert a vertical band of width W // 7 in the middle half."""

    def one(x):
        x = x.copy()
        h, w = x.shape
        width = max(1, w // 7)
        j = rng.integers(w // 4, 3 * w // 4 - width + 1)
        x[:, j : j + width] = 1 - x[:, j : j + width]
        return x

    return _each(X, one)


def _plasma(size, rng, decay=2.0):
    """Fractal (1/f) noise in [0, 1] of shape (size, size)."""
    f = np.fft.fftfreq(size)
    fx, fy = np.meshgrid(f, f)
    amp = 1.0 / np.maximum(np.hypot(fx, fy), 1.0 / size) ** decay
    phase = rng.uniform(0, 2 * np.pi, (size, size))
    noise = np.real(np.fft.ifft2(amp * np.exp(1j * phase)))
    noise -= noise.min()
    return noise / max(noise.max(), 1e-12)


def fog(X, rng):
    """Add 1.2 x fractal noise, then scale by 1 / 1.6 (clipped)."""
    h, w = X.shape[1:]
    out = np.stack([x + 1.2 * _plasma(max(h, w), rng)[:h, :w] for x in X])
    return np.clip(out * (1.0 / 1.6), 0, 1).astype(np.float32)


def spatter(X, rng):
    """Blobs: the top 10 % of smoothed Gaussian noise raised to at least 0.8."""

    def one(x):
        h, w = x.shape
        blobs = ndimage.gaussian_filter(rng.normal(size=(h, w)), 1.0)
        mask = blobs > np.quantile(blobs, 0.9)
        x = x.copy()
        x[mask] = np.maximum(x[mask], 0.8)
        return x

    return _each(X, one)


def _draw(x, rows, cols, value=1.0):
    """Set the pixels (rows, cols) of ``x`` that lie inside it to ``value``."""
    h, w = x.shape
    ok = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    x[rows[ok], cols[ok]] = value
    return x


def _line(r0, c0, r1, c1):
    """Pixel coordinates of the straight line from (r0, c0) to (r1, c1)."""
    n = int(max(abs(r1 - r0), abs(c1 - c0))) + 1
    t = np.linspace(0, 1, n)
    rows = np.rint(r0 + t * (r1 - r0)).astype(int)
    cols = np.rint(c0 + t * (c1 - c0)).astype(int)
    return rows, cols


def dotted_line(X, rng):
    """A white dotted line (every third pixel) across the image, from a
    random row at the left edge to a random row at the right edge."""

    def one(x):
        h, w = x.shape
        x = x.copy()
        r0, r1 = rng.integers(0, h, 2)
        rows, cols = _line(r0, 0, r1, w - 1)
        keep = np.arange(len(rows)) % 3 == 0
        return _draw(x, rows[keep], cols[keep])

    return _each(X, one)


def zigzag(X, rng):
    """A white zigzag of six segments across the image around a random row
    of the middle half (amplitude H // 7, at least 2)."""

    def one(x):
        h, w = x.shape
        x = x.copy()
        r = rng.integers(h // 4, 3 * h // 4)
        amp = max(2, h // 7)
        pts = [(r + (amp if k % 2 else -amp), int(k * w / 6)) for k in range(7)]
        for (a, b), (c, d) in zip(pts[:-1], pts[1:]):
            x = _draw(x, *_line(a, b, c, min(d, w - 1)))
        return x

    return _each(X, one)


def canny_edges(X, rng):
    """Canny edge map (sigma 1) in place of the image; needs scikit-image
    (``rng`` is not used)."""
    from skimage.feature import canny

    return np.stack([canny(x, sigma=1.0) for x in X]).astype(np.float32)


CORRUPTIONS = {
    f.__name__: f
    for f in (
        shot_noise,
        impulse_noise,
        glass_blur,
        motion_blur,
        shear,
        scale,
        rotate,
        brightness,
        translate,
        stripe,
        fog,
        spatter,
        dotted_line,
        zigzag,
        canny_edges,
    )
}
"""Every corruption by name, in MNIST-C's order."""


def corruption_generator(name, seed=0):
    """The generator :func:`corrupt_all` gives corruption ``name``."""
    return np.random.default_rng([seed, list(CORRUPTIONS).index(name)])


def corrupt_all(X, seed=0):
    """{name: corrupted copy of X} for every corruption (each with its own
    generator, :func:`corruption_generator`)."""
    return {
        name: fn(np.asarray(X, np.float32), corruption_generator(name, seed))
        for name, fn in CORRUPTIONS.items()
    }

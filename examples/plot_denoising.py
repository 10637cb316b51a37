"""
=============================================
Denoising digits with a denoising autoencoder
=============================================

Every skcae estimator takes two training-noise parameters: ``noise_std``
(Gaussian noise added to the standardised input) and ``mask_fraction``
(input values set to the mean at random). The corruption happens inside the
network and only while it trains; the target stays the clean image. The
network so learns to *remove* noise, and
:meth:`~skcae.ConvAutoencoder.reconstruct` becomes a denoiser.

We train the same :class:`~skcae.ConvAutoencoder` twice on clean 8x8 digits,
with and without ``noise_std``, then feed both noisy held-out digits. The
networks are kept small so the example runs quickly.
"""

# %%
# Clean training digits, noisy test digits
# ----------------------------------------
# Images are scaled to [0, 1]. The test digits get Gaussian noise of
# standard deviation 0.3, close to the pixels' own spread (0.38).
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from skcae import ConvAutoencoder

X = load_digits().data / 16.0
X_train, X_clean = X[:1300], X[1300:]
rng = np.random.RandomState(0)
X_noisy = X_clean + rng.normal(scale=0.3, size=X_clean.shape)

# %%
# Two autoencoders: plain and denoising
# -------------------------------------
# ``noise_std`` is in standardised units (z-scores of the training pixels):
# 0.8 is about the test noise. Kept small so the example runs quickly.
params = dict(
    image_shape=(8, 8),
    channels=(8,),
    latent_dim=16,
    max_epochs=15,
    batch_size=64,
    lr=1e-2,
    device="cpu",
    random_state=0,
)
plain = ConvAutoencoder(**params).fit(X_train)
denoising = ConvAutoencoder(**params, noise_std=0.8).fit(X_train)


def mse(images):
    return float(np.mean((images - X_clean) ** 2))


print("mean squared error to the clean test digits")
print(f"  noisy input:                   {mse(X_noisy):.4f}")
print(f"  plain autoencoder output:      {mse(plain.reconstruct(X_noisy)):.4f}")
print(f"  denoising autoencoder output:  {mse(denoising.reconstruct(X_noisy)):.4f}")

# %%
# Noisy, denoised, clean
# ----------------------
# The denoising autoencoder was never shown these digits; it maps each
# noisy image back towards a clean digit.
n_show = 8
rows = {
    "noisy": X_noisy[:n_show],
    "denoised": denoising.reconstruct(X_noisy[:n_show]),
    "clean": X_clean[:n_show],
}
fig, axes = plt.subplots(3, n_show, figsize=(9, 3.6), layout="constrained")
for r, (label, images) in enumerate(rows.items()):
    for i, image in enumerate(images):
        axes[r, i].imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        axes[r, i].set_xticks([])
        axes[r, i].set_yticks([])
    axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center")
fig.suptitle("ConvAutoencoder(noise_std=0.8) as a denoiser")
plt.show()

"""What a fitted estimator computes from new data: codes, decodings,
reconstructions and anomaly maps.

Each public method enters the thread policy once, reads one snapshot of the
fitted state (``_fitted``) and runs the fitted model over the validated
rows block by block (``_run``); the methods live on
:class:`~skcae._base.BaseAutoencoder`, which mixes this class in.
"""

import numpy as np
from sklearn import config_context
from sklearn.utils import check_array

from ._checks import finite_rows
from ._threads import torch_threads
from ._warn import warn_user

_NETWORK = "The network's {what} are not finite for {n} sample(s)"


def _network_output(values, what, **kwargs):
    return finite_rows(values, _NETWORK.replace("{what}", what), **kwargs)


class InferenceMixin:
    """encode, decode, reconstruct and anomaly_map of a fitted estimator."""

    def _out_dtype(self, X):
        """float32 when X is float32, else float64 (as scikit-learn does)."""
        return np.float32 if getattr(X, "dtype", None) == np.float32 else np.float64

    def _to_input_form(self, values, data):
        """``(n, C, H, W)`` outputs back in the form X was given in (flat rows
        of channels-last images hold (H, W, C) values each)."""
        if data.channels_last and values.ndim == 4:
            values = values.transpose(0, 2, 3, 1)
        return values.reshape(data.input_shape)

    def _views(self, X):
        """Inputs, reconstructions and per-value squared errors of X as
        ``(n, C, H, W)`` images (tabular rows: ``(n, 1, 1, n_features)``), in
        data units: one validation and one pass, for the plots."""
        state = self._fitted()
        data = self._validate(X)

        def views(model, x):
            z = model.standardization(x)
            recon = model.network(z)
            return {
                "images": x,
                "recon": model.standardization.inverse(recon.float()),
                "errors": model.errors_of(z, recon),
            }

        with torch_threads(self.n_jobs, rows=len(data), chunk=self._chunk(state)):
            out = self._run(state, data.rows, views)
        images, recon, errors = out["images"], out["recon"], out["errors"]
        if images.ndim == 2:
            shape = (len(images), 1, 1, images.shape[1])
            images, recon, errors = (a.reshape(shape) for a in (images, recon, errors))
        return images, recon, errors

    def encode(self, X):
        """Compress each sample to its code, the output of the encoder.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
or (n_samples, C, H, W)
            Samples in a form the estimator accepts (tabular estimators take
            2-D X only).

        Returns
        -------
        codes : ndarray of shape (n_samples, latent_dim)
            Float32 when X is float32, else float64.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from skcae import ConvAutoencoderOutlierDetector
        >>> X = load_digits().data[:100]
        >>> det = ConvAutoencoderOutlierDetector(
        ...     image_shape=(8, 8), channels=(4,), latent_dim=3, max_epochs=1,
        ...     device="cpu", random_state=0).fit(X)
        >>> codes = det.encode(X)
        >>> codes.shape, codes.dtype.name
        ((100, 3), 'float64')
        """
        state = self._fitted()
        data = self._validate(X)
        with torch_threads(self.n_jobs, rows=len(data), chunk=self._chunk(state)):
            codes = self._run(state, data.rows, lambda model, x: model.encode(x))
        codes = _network_output(codes, "codes")
        return codes.astype(self._out_dtype(X), copy=False)

    def decode(self, Z):
        """Map codes back to samples with the decoder.

        Parameters
        ----------
        Z : array-like of shape (n_samples, latent_dim)
            Codes, e.g. from :meth:`encode`.

        Returns
        -------
        decoded : ndarray
            Images of shape ``(n_samples, C, H, W)`` (``C, H, W`` from
            ``image_shape_``, whatever form the estimator was fitted on) for
            the convolutional estimators; rows of shape
            ``(n_samples, n_features)`` for
            :class:`~skcae.AutoencoderOutlierDetector`. Float32 when Z is
            float32, else float64, in the units of the training data.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from skcae import ConvAutoencoderOutlierDetector
        >>> X = load_digits().data[:100]
        >>> det = ConvAutoencoderOutlierDetector(
        ...     image_shape=(8, 8), channels=(4,), latent_dim=3, max_epochs=1,
        ...     device="cpu", random_state=0).fit(X)
        >>> det.decode(det.encode(X[:5])).shape
        (5, 1, 8, 8)
        """
        state = self._fitted()
        with config_context(assume_finite=False):  # as X (_validate_rows)
            Z = check_array(Z, dtype=[np.float64, np.float32], input_name="Z")
        latent_dim = state[self._model_attribute].config.latent_dim
        if Z.shape[1] != latent_dim:
            raise ValueError(
                f"Got Z with {Z.shape[1]} columns (Z.shape={Z.shape}), but "
                f"expected codes of shape (n_samples, {latent_dim}): this "
                f"estimator was fitted with latent_dim={latent_dim}."
            )
        if np.abs(Z).max() > np.finfo(np.float32).max:
            raise ValueError(
                f"Got codes up to {np.abs(Z).max():.3g} in Z, beyond float32's "
                "range, which the network computes in; expected codes like "
                "those of encode (of order one)."
            )
        with torch_threads(self.n_jobs, rows=len(Z), chunk=self._chunk(state)):
            decoded = self._run(
                state,
                Z,
                lambda model, code: model.decode(code),
                raw=True,
                dtype=self._out_dtype(Z),
            )
        decoded = _network_output(
            decoded,
            "decoded images",
            cause="codes far larger than those of encode, or NaN weights",
            expected="codes like those of encode (of order one)",
        )
        return decoded.astype(self._out_dtype(Z), copy=False)

    def reconstruct(self, X):
        """Encode and decode X: the autoencoder's reconstruction of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
or (n_samples, C, H, W)
            Samples in a form the estimator accepts.

        Returns
        -------
        X_reconstructed : ndarray of the shape of X
            In the form X was given: 2-D stays 2-D, ``(n, H, W)`` stays
            ``(n, H, W)`` and ``(n, C, H, W)`` stays 4-D. Float32 when X is
            float32, else float64.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from skcae import ConvAutoencoderOutlierDetector
        >>> X = load_digits().data[:100]
        >>> det = ConvAutoencoderOutlierDetector(
        ...     image_shape=(8, 8), channels=(4,), latent_dim=3, max_epochs=1,
        ...     device="cpu", random_state=0).fit(X)
        >>> det.reconstruct(X).shape
        (100, 64)
        >>> det.reconstruct(X.reshape(-1, 8, 8)).shape
        (100, 8, 8)
        """
        state = self._fitted()
        data = self._validate(X)
        with torch_threads(self.n_jobs, rows=len(data), chunk=self._chunk(state)):
            recon = self._run(
                state,
                data.rows,
                lambda model, x: model.reconstruct(x),
                dtype=self._out_dtype(X),
            )
        recon = _network_output(recon, "reconstructions")
        return self._to_input_form(recon, data).astype(self._out_dtype(X), copy=False)

    def anomaly_map(self, X):
        """Squared reconstruction error of every pixel (or feature).

        Its mean over everything but the first axis is the mean squared
        error of each sample, which is ``-score_samples(X)`` for the
        detectors with ``score_type="reconstruction"`` and the default
        ``score_smoothing=1`` and ``score_top_fraction=1``. Squared errors
        beyond the output dtype's range (data near 1e19 in float32, 1e154
        in float64) are inf, with a RuntimeWarning that names the samples.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
or (n_samples, C, H, W)
            Samples in a form the estimator accepts.

        Returns
        -------
        errors : ndarray
            ``(x - reconstruct(x)) ** 2`` value by value, in the squared
            units of X; a value more than a million training standard
            deviations from its channel's (feature's) training mean counts
            as that far (the network's input is clipped there): a pixel of
            1e10 or 1e20 among sklearn's digits scaled to [0, 1] (standard
            deviation 0.38) gives about 1.4e11. For the convolutional estimators: shape
            ``(n_samples, H, W)`` when the images have one channel
            (``image_shape_[0] == 1``, gray images and 2-D signals), else
            ``(n_samples, C, H, W)``. For
            :class:`~skcae.AutoencoderOutlierDetector`:
            ``(n_samples, n_features)``. Float32 when X is float32, else
            float64.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.datasets import load_digits
        >>> from skcae import ConvAutoencoderOutlierDetector
        >>> X = load_digits().data[:100]
        >>> det = ConvAutoencoderOutlierDetector(
        ...     image_shape=(8, 8), channels=(4,), latent_dim=3, max_epochs=1,
        ...     score_type="reconstruction", device="cpu", random_state=0).fit(X)
        >>> maps = det.anomaly_map(X)
        >>> maps.shape
        (100, 8, 8)
        >>> bool(np.allclose(maps.mean(axis=(1, 2)), -det.score_samples(X)))
        True
        """
        state = self._fitted()
        data = self._validate(X)
        with torch_threads(self.n_jobs, rows=len(data), chunk=self._chunk(state)):
            # written as the output dtype block by block (overflow: inf)
            maps = self._run(
                state,
                data.rows,
                lambda model, x: model.errors(x),
                dtype=self._out_dtype(X),
            )
        # squares of finite errors may overflow to inf for data at 1e160;
        # only NaN means the network itself failed
        maps = _network_output(maps, "anomaly maps", nan_only=True)
        if maps.ndim == 4 and maps.shape[1] == 1:
            maps = maps[:, 0]
        dtype = self._out_dtype(X)
        with np.errstate(over="ignore"):
            maps = maps.astype(dtype, copy=False)
        overflow = np.flatnonzero(np.isinf(maps).reshape(len(maps), -1).any(axis=1))
        if overflow.size:
            warn_user(
                f"The squared errors of {overflow.size} sample(s) (positions "
                f"{overflow[:10].tolist()}) exceed {np.dtype(dtype).name}'s range "
                f"({np.finfo(dtype).max:.3g}) and are inf in the anomaly map: X's "
                "values are too large to square. Rescale X (e.g. divide it by a "
                "constant) for finite maps; score_samples stays finite.",
                RuntimeWarning,
            )
        return maps

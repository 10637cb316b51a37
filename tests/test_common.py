"""scikit-learn's own estimator checks, on cheap settings."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skcae import (
    AutoencoderOutlierDetector,
    ConvAutoencoder,
    ConvAutoencoderOutlierDetector,
)

# {check name: reason}. Empty: every check passes; keep it that way.
EXPECTED_FAILED_CHECKS = {}


def _cheap(estimator):
    network = (
        {"hidden_layer_sizes": (4,)}
        if isinstance(estimator, AutoencoderOutlierDetector)
        else {"channels": (4,)}
    )
    if hasattr(estimator, "contamination"):
        # IsolationForest's contamination: a fraction of the training data.
        # (The default "auto" aims at 1% of *new* data, calibrated on data
        # the network did not see, so on its own training data a detector
        # of two epochs may flag none, which check_outliers_train refuses.)
        network["contamination"] = 0.1
    return estimator.set_params(
        **network,
        latent_dim=2,
        max_epochs=2,
        batch_size=32,
        device="cpu",
        random_state=0,
    )


@parametrize_with_checks(
    [
        _cheap(ConvAutoencoderOutlierDetector()),
        _cheap(ConvAutoencoder()),
        _cheap(AutoencoderOutlierDetector()),
    ],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)

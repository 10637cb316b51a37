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

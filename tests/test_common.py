"""scikit-learn's own estimator checks, on cheap settings."""

import pytest
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from skcae import (
    AutoencoderOutlierDetector,
    ConvAutoencoder,
    ConvAutoencoderOutlierDetector,
)
from skcae.images import ImageLoader

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


# The detectors as users meet them: contamination="auto". It aims at 1% of
# *new* normal data, calibrated on samples no network trained on; on its own
# training data the network is optimistic, so on sklearn's 300 two-feature
# blobs it may flag none, and these checks demand at least one -1 there.
# (A fix that scores a training sample as in its leave-one-out calibration
# was tried: it made float32 and float64 copies of a training sample score
# differently, so it did not land.)
AUTO_EXPECTED_FAILED_CHECKS = {
    "check_outliers_train": "contamination='auto' flags ~1% of new data; "
    "its training data score better and may all be inliers",
    "check_outliers_fit_predict": "as check_outliers_train",
}


def _cheap_auto(estimator):
    estimator = _cheap(estimator)
    return estimator.set_params(contamination="auto")


@pytest.mark.slow
@parametrize_with_checks(
    [
        _cheap_auto(ConvAutoencoderOutlierDetector()),
        _cheap_auto(AutoencoderOutlierDetector()),
    ]
)
def test_sklearn_compatible_with_auto_contamination(estimator, check):
    # whether any training sample is flagged depends on the network (it
    # passes or fails with other settings), so an imperative, non-strict
    # xfail, for these two checks and this assertion only
    name = getattr(check, "func", check).__name__
    try:
        check(estimator)
    except AssertionError as error:
        if name in AUTO_EXPECTED_FAILED_CHECKS and "[-1,  1]" in str(error):
            pytest.xfail(AUTO_EXPECTED_FAILED_CHECKS[name])
        raise


# ImageLoader's X is file paths, which scikit-learn's checks cannot make: with
# the tags of a transformer of strings (two_d_array=False, as CountVectorizer's)
# parametrize_with_checks runs only check_estimator_cloneable on it. The
# checks of the estimator API that need no data run here; tests/test_images.py
# covers fit, transform, clone, Pipeline and GridSearchCV with real files.
@pytest.mark.parametrize(
    "check",
    [
        estimator_checks.check_estimator_cloneable,
        estimator_checks.check_no_attributes_set_in_init,
        estimator_checks.check_parameters_default_constructible,
        estimator_checks.check_get_params_invariance,
        estimator_checks.check_set_params,
        estimator_checks.check_estimator_repr,
        estimator_checks.check_estimator_tags_renamed,
        estimator_checks.check_valid_tag_types,
        estimator_checks.check_do_not_raise_errors_in_init_or_set_params,
        estimator_checks.check_mixin_order,
    ],
    ids=lambda check: check.__name__,
)
def test_image_loader_api(check):
    check("ImageLoader", ImageLoader(size=(8, 8), mode="L"))


@pytest.mark.parametrize(
    "estimator, three_d",
    [
        (ConvAutoencoderOutlierDetector(), True),
        (ConvAutoencoder(), True),
        (AutoencoderOutlierDetector(), False),
    ],
    ids=lambda x: type(x).__name__ if not isinstance(x, bool) else str(x),
)
def test_tags_say_which_arrays_are_accepted(estimator, three_d):
    tags = estimator.__sklearn_tags__()
    assert tags.input_tags.two_d_array and tags.input_tags.three_d_array is three_d


@pytest.mark.parametrize(
    "cls",
    [
        ConvAutoencoderOutlierDetector,
        ConvAutoencoder,
        AutoencoderOutlierDetector,
        ImageLoader,
    ],
)
def test_documented_defaults_are_the_signatures(cls):
    """Every ``name : type, default=value`` line of the docstring names a
    parameter of ``__init__`` and its default (a changed default, such as
    the detector's ``latent_dim`` 16 -> 32, changes both or fails here)."""
    import ast
    import inspect
    import re

    signature = inspect.signature(cls.__init__).parameters
    documented = re.findall(r"^    (\w+) : .*?default=(.+)$", cls.__doc__, re.M)
    assert len(documented) == len(signature) - 1  # every parameter but self
    for name, text in documented:
        assert name in signature, name
        assert signature[name].default == ast.literal_eval(text.strip()), name

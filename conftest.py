"""Settings for every test and doctest (tests/ and the docstrings in skcae/)."""

import os

# Lets scikit-learn's array-API estimator check run instead of skipping.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import torch  # noqa: E402

# Tiny test networks gain nothing from threads, and on a busy 2-core machine
# OpenMP spinning makes them 100x slower (measured: 8 s vs 0.07 s per fit).
torch.set_num_threads(1)


def pytest_collection_modifyitems(items):
    """The ONNX module's doctest exports a graph (seconds): slow, as the
    ONNX tests are, so that ``pytest -m "not slow"`` stays quick."""
    import pytest

    for item in items:
        if item.nodeid.startswith("skcae/_onnx.py::"):
            item.add_marker(pytest.mark.slow)

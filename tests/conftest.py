import os

# Lets scikit-learn's array-API estimator check run instead of skipping.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

# Tiny test networks gain nothing from threads, and on a busy 2-core machine
# OpenMP spinning makes them 100x slower (measured: 8 s vs 0.07 s per fit).
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _fixed_seeds():
    """Fixed global seeds, so a test never depends on the order tests run in."""
    np.random.seed(0)
    torch.manual_seed(0)
    yield

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _fixed_seeds():
    """Fixed global seeds, so a test never depends on the order tests run in."""
    np.random.seed(0)
    torch.manual_seed(0)
    yield

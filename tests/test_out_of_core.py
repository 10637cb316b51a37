"""fit and score_samples stream memmaps and lazy array-likes block by block."""

import numpy as np
import pytest

from skcae import ConvAutoencoderOutlierDetector
from skcae._training import INFERENCE_CHUNK

FAST = dict(channels=(4,), latent_dim=3, max_epochs=2, batch_size=32, device="cpu",
            random_state=0)


class RecordingArray:
    """A lazy array-like (like an HDF5 dataset) that logs every read."""

    def __init__(self, data):
        self._data = data
        self.shape = data.shape
        self.dtype = data.dtype
        self.reads = []

    def __len__(self):
        return len(self._data)

    def __getitem__(self, index):
        rows = self._data[index]
        self.reads.append(len(rows))
        return rows


@pytest.fixture
def images():
    return (np.random.RandomState(0).rand(1500, 10, 10) * 255).astype(np.uint8)


def _memmap(tmp_path, array, mode="r"):
    path = tmp_path / "x.npy"
    np.save(path, array)
    return np.load(path, mmap_mode=mode)


def test_memmap_gives_the_same_model_and_scores(images, tmp_path):
    mm = _memmap(tmp_path, images)
    a = ConvAutoencoderOutlierDetector(**FAST).fit(images)
    b = ConvAutoencoderOutlierDetector(**FAST).fit(mm)
    np.testing.assert_array_equal(a.score_samples(images), b.score_samples(mm))
    assert b.image_shape_ == (1, 10, 10) and b.n_features_in_ == 100


def test_lazy_array_is_read_in_blocks(images):
    lazy = RecordingArray(images)
    det = ConvAutoencoderOutlierDetector(**FAST).fit(lazy)
    assert max(lazy.reads) < len(images)  # never read whole while training
    lazy.reads.clear()
    scores = det.score_samples(lazy)
    assert max(lazy.reads) <= INFERENCE_CHUNK < len(images)
    np.testing.assert_array_equal(scores, det.score_samples(images))


def test_copy_on_write_memmap_is_not_modified(images, tmp_path):
    mm = _memmap(tmp_path, images, mode="c")
    det = ConvAutoencoderOutlierDetector(**FAST).fit(mm)
    det.score_samples(mm)
    np.testing.assert_array_equal(mm, images)


def test_lazy_data_errors(images, tmp_path):
    bad = images.astype(np.float32)
    bad[700, 3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ConvAutoencoderOutlierDetector(**FAST).fit(RecordingArray(bad))
    det = ConvAutoencoderOutlierDetector(**FAST).fit(_memmap(tmp_path, images))
    with pytest.raises(ValueError, match="X has 64 features.*expecting 100"):
        det.score_samples(RecordingArray(images[:, :8, :8]))
    with pytest.raises(ValueError, match="1 sample"):
        ConvAutoencoderOutlierDetector(**FAST).fit(RecordingArray(images[:1]))
    with pytest.raises(ValueError, match="5 dimensions"):
        ConvAutoencoderOutlierDetector(**FAST).fit(
            RecordingArray(np.zeros((4, 1, 1, 2, 2)))
        )
    with pytest.raises(ValueError, match="numeric"):
        ConvAutoencoderOutlierDetector(**FAST).fit(
            RecordingArray(np.array([["a", "b"]] * 4))
        )

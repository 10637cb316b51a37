import gzip

import numpy as np
import pytest
from sklearn.utils import Bunch

from skcae.datasets import load_digits_images, load_mnist, make_one_class_split

N_TRAIN, N_TEST = 6, 4


def _write_idx(path, array, *, compress=None, magic=None):
    """Write ``array`` (uint8) as an IDX file, gzipped if ``path`` ends in .gz."""
    array = np.asarray(array, dtype=np.uint8)
    if magic is None:
        magic = 0x0800 | array.ndim
    header = np.array([magic, *array.shape], dtype=">u4").tobytes()
    payload = header + array.tobytes()
    if compress is None:
        compress = str(path).endswith(".gz")
    opener = gzip.open if compress else open
    with opener(path, "wb") as f:
        f.write(payload)
    return payload


def _fake_mnist(folder, *, gz=True, seed=0):
    """Write four tiny MNIST files; return {part: (images, labels)}."""
    rng = np.random.default_rng(seed)
    suffix = ".gz" if gz else ""
    data = {}
    for part, prefix, n in [("train", "train", N_TRAIN), ("test", "t10k", N_TEST)]:
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[0, 0, 0], images[0, 0, 1] = 0, 255
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        _write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
        data[part] = images, labels
    return data


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("subset", ["train", "test", "all"])
def test_load_mnist_round_trip(tmp_path, gz, subset):
    data = _fake_mnist(tmp_path, gz=gz)
    parts = ["train", "test"] if subset == "all" else [subset]
    expected_images = np.concatenate([data[p][0] for p in parts])
    expected_labels = np.concatenate([data[p][1] for p in parts])

    bunch = load_mnist(tmp_path, subset=subset, normalize=False)
    assert isinstance(bunch, Bunch)
    assert bunch.images.dtype == np.uint8
    assert bunch.images.shape == (len(expected_images), 28, 28)
    np.testing.assert_array_equal(bunch.images, expected_images)
    assert bunch.target.dtype == np.int64
    np.testing.assert_array_equal(bunch.target, expected_labels)
    assert bunch.data.shape == (len(expected_images), 784)
    assert np.shares_memory(bunch.data, bunch.images)
    assert "MNIST" in bunch.DESCR
    assert bunch.images.flags.writeable


def test_load_mnist_normalize(tmp_path):
    data = _fake_mnist(tmp_path)
    images, target = load_mnist(str(tmp_path), return_X_y=True)
    assert images.dtype == np.float32
    assert images.min() == 0.0 and images.max() == 1.0
    np.testing.assert_allclose(images * 255, data["train"][0], atol=1e-4)
    assert target.dtype == np.int64 and target.shape == (N_TRAIN,)


def test_load_mnist_prefers_gz(tmp_path):
    gz_data = _fake_mnist(tmp_path, gz=True, seed=1)
    _fake_mnist(tmp_path, gz=False, seed=2)
    images, _ = load_mnist(tmp_path, normalize=False, return_X_y=True)
    np.testing.assert_array_equal(images, gz_data["train"][0])


def test_load_mnist_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path)
    _fake_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    load_mnist(tmp_path, subset="train")  # only the train files are needed
    with pytest.raises(FileNotFoundError, match=r"missing in folder .*t10k-labels"):
        load_mnist(tmp_path, subset="all")
    with pytest.raises(FileNotFoundError, match="missing in folder"):
        load_mnist(tmp_path / "nowhere")


def test_load_mnist_bad_subset(tmp_path):
    with pytest.raises(ValueError, match="subset must be one of"):
        load_mnist(tmp_path, subset="validation")


def test_load_mnist_bad_magic(tmp_path):
    _fake_mnist(tmp_path)
    images = np.zeros((N_TRAIN, 28, 28), dtype=np.uint8)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", images, magic=0x0801)
    with pytest.raises(
        ValueError, match=r"train-images.*0x00000801, expected 0x00000803"
    ):
        load_mnist(tmp_path)


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_truncated(tmp_path, gz):
    _fake_mnist(tmp_path, gz=gz)
    suffix = ".gz" if gz else ""
    path = tmp_path / f"t10k-images-idx3-ubyte{suffix}"
    payload = _write_idx(path, np.zeros((N_TEST, 28, 28)), compress=gz)
    truncated = payload[:-10]
    path.write_bytes(gzip.compress(truncated) if gz else truncated)
    with pytest.raises(ValueError, match=r"t10k-images.*truncated or corrupt"):
        load_mnist(tmp_path, subset="test")
    # header itself cut short
    path.write_bytes(gzip.compress(payload[:6]) if gz else payload[:6])
    with pytest.raises(ValueError, match="truncated: found 6 bytes"):
        load_mnist(tmp_path, subset="test")


def test_load_mnist_broken_gzip(tmp_path):
    _fake_mnist(tmp_path)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(ValueError, match="Cannot read IDX file .*train-labels"):
        load_mnist(tmp_path)


def test_load_mnist_inconsistent_files(tmp_path):
    _fake_mnist(tmp_path)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(N_TRAIN + 1))
    with pytest.raises(ValueError, match=f"{N_TRAIN} images but .* 7 labels"):
        load_mnist(tmp_path)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="size 8x8, expected 28x28"):
        load_mnist(tmp_path)


@pytest.mark.parametrize("normalize, high", [(True, 1.0), (False, 16.0)])
def test_load_digits_images(normalize, high):
    bunch = load_digits_images(normalize=normalize)
    assert bunch.images.shape == (1797, 8, 8)
    assert bunch.images.dtype == np.float32
    assert bunch.images.min() == 0.0 and bunch.images.max() == high
    assert bunch.data.shape == (1797, 64)
    assert bunch.target.dtype == np.int64
    assert set(bunch.target.tolist()) == set(range(10))
    images, target = load_digits_images(return_X_y=True, normalize=normalize)
    np.testing.assert_array_equal(images, bunch.images)
    np.testing.assert_array_equal(target, bunch.target)


@pytest.fixture
def toy():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 25)  # 4 classes x 25 samples
    X = rng.random((len(y), 3, 3))
    X[:, 0, 0] = np.arange(len(y))  # unique id per sample
    return X, y


def _ids(X):
    return set(X[:, 0, 0].astype(int).tolist())


def test_split_internal(toy):
    X, y = toy
    X_orig, y_orig = X.copy(), y.copy()
    split = make_one_class_split(X, y, normal_class=2, random_state=0)
    assert split.X_val is None
    # default test_size=0.3, stratified: 30 test rows, 7-8 per class
    assert split.X_test.shape == (30, 3, 3)
    assert len(split.X_train) == 25 - np.sum(split.y_test_class == 2)
    assert set(y[list(_ids(split.X_train))].tolist()) == {2}
    assert not _ids(split.X_train) & _ids(split.X_test)
    np.testing.assert_array_equal(
        y[split.X_test[:, 0, 0].astype(int)], split.y_test_class
    )
    np.testing.assert_array_equal(
        split.y_test, np.where(split.y_test_class == 2, 1, -1)
    )
    assert split.y_test.dtype == np.int64
    assert set(split.y_test_class.tolist()) == {0, 1, 2, 3}
    np.testing.assert_array_equal(X, X_orig)
    np.testing.assert_array_equal(y, y_orig)


def test_split_external_and_validation(toy):
    X, y = toy
    X_test, y_test = X[:40] + 100, y[:40]
    copies = [a.copy() for a in (X, y, X_test, y_test)]
    split = make_one_class_split(
        X,
        y,
        normal_class=[1, 3],
        validation_size=0.2,
        X_test=X_test,
        y_test=y_test,
        random_state=0,
    )
    assert len(split.X_train) == 40 and len(split.X_val) == 10
    train_ids, val_ids = _ids(split.X_train), _ids(split.X_val)
    assert not train_ids & val_ids
    assert set(y[list(train_ids | val_ids)].tolist()) == {1, 3}
    np.testing.assert_array_equal(split.X_test, X_test)
    assert not np.shares_memory(split.X_test, X_test)
    np.testing.assert_array_equal(split.y_test_class, y_test)
    np.testing.assert_array_equal(split.y_test, np.where(y_test == 1, 1, -1))
    for a, b in zip((X, y, X_test, y_test), copies):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("external", [False, True])
def test_split_deterministic(toy, external):
    X, y = toy
    kwargs = dict(X_test=X, y_test=y) if external else {}
    splits = [
        make_one_class_split(
            X, y, normal_class=0, validation_size=0.3, random_state=42, **kwargs
        )
        for _ in range(2)
    ]
    for key in ("X_train", "X_val", "X_test", "y_test", "y_test_class"):
        np.testing.assert_array_equal(splits[0][key], splits[1][key])
    other = make_one_class_split(
        X, y, normal_class=0, validation_size=0.3, random_state=7, **kwargs
    )
    assert not np.array_equal(other.X_val, splits[0].X_val)


def test_split_test_size(toy):
    X, y = toy
    split = make_one_class_split(X, y, normal_class=0, test_size=20, random_state=0)
    assert len(split.X_test) == 20 and len(split.X_train) == 20


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            dict(normal_class=7),
            r"normal_class \[7\] not present in y; labels "
            r"present are \[0, 1, 2, 3\]",
        ),
        (dict(normal_class=[]), "at least one label"),
        (dict(normal_class=[0, 1, 2, 3]), "no outliers"),
        (dict(normal_class=0, test_size=1.5), r"test_size must be in \(0, 1\)"),
        (dict(normal_class=0, test_size=0), r"test_size .* must be in \[1, 99\]"),
        (
            dict(normal_class=0, validation_size=1.0),
            r"validation_size must be in \[0, 1\)",
        ),
        (dict(normal_class=0, validation_size=-0.1), "validation_size"),
        (dict(normal_class=0, validation_size="half"), "must be a float"),
        (dict(normal_class=0, X_test=np.zeros((3, 3, 3))), "given together"),
        (
            dict(
                normal_class=0,
                X_test=np.zeros((3, 3, 3)),
                y_test=np.zeros(3),
                test_size=0.2,
            ),
            "test_size cannot be used",
        ),
        (
            dict(normal_class=0, X_test=np.zeros((3, 4, 4)), y_test=np.zeros(3)),
            r"X_test samples have shape \(4, 4\)",
        ),
        (
            dict(normal_class=0, X_test=np.zeros((3, 3, 3)), y_test=np.zeros(2)),
            r"y_test must have shape \(3,\)",
        ),
    ],
)
def test_split_errors(toy, kwargs, match):
    X, y = toy
    with pytest.raises(ValueError, match=match):
        make_one_class_split(X, y, **kwargs)


def test_split_shape_errors(toy):
    X, y = toy
    with pytest.raises(ValueError, match=r"y must have shape \(100,\)"):
        make_one_class_split(X, y[:-1], normal_class=0)
    with pytest.raises(ValueError, match="X must have shape"):
        make_one_class_split(y, y, normal_class=0)
    X_small, y_small = X[[0, 1, 50]], y[[0, 1, 50]]
    with pytest.raises(ValueError, match="none would be left to train on"):
        make_one_class_split(
            X_small, y_small, normal_class=0, X_test=X, y_test=y, validation_size=0.6
        )

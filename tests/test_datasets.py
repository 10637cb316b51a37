import gzip
import re
import tracemalloc

import numpy as np
import pytest
from sklearn.utils import Bunch

from skcae import datasets
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
    with pytest.raises(FileNotFoundError, match="nowhere', which does not exist"):
        load_mnist(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="which is a file; expected the fold"):
        load_mnist(tmp_path / "train-images-idx3-ubyte.gz")
    (tmp_path / "directory").mkdir()
    with pytest.raises(FileNotFoundError, match="missing in folder"):
        load_mnist(tmp_path / "directory")
    # there, but not a file (a probe was told only "missing")
    (tmp_path / "t10k-labels-idx1-ubyte.gz").mkdir()
    (tmp_path / "t10k-labels-idx1-ubyte").symlink_to(tmp_path / "nowhere")
    with pytest.raises(
        FileNotFoundError,
        match=r"t10k-labels-idx1-ubyte\.gz is a folder; "
        r"t10k-labels-idx1-ubyte is a link to nothing\.$",
    ):
        load_mnist(tmp_path, subset="test")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            dict(subset="validation"),
            r"'subset' parameter of load_mnist must be a "
            r"str among .*'test'.* Got 'validation' instead",
        ),
        (dict(return_X_y=1), "'return_X_y' parameter of load_mnist must be"),
        (dict(normalize="yes"), "'normalize' parameter of load_mnist must be"),
    ],
)
def test_load_mnist_bad_parameters(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_mnist(tmp_path, **kwargs)
    with pytest.raises(ValueError, match="'path' parameter of load_mnist must be"):
        load_mnist(None)


# -- hostile IDX files ---------------------------------------------------------
# Each case writes one corrupt or hostile file over a valid tiny test set and
# expects a ValueError (exactly that type) naming the file and what was wrong.

IMAGES, LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"


def _idx(magic, dims, payload=b""):
    """Raw IDX bytes: big-endian magic and dims (any Python ints), then payload."""
    header = b"".join(int(v).to_bytes(4, "big") for v in (magic, *dims))
    return header + bytes(payload)


def _images(n=N_TEST, shape=(28, 28), extra=b"", cut=0):
    size = n * shape[0] * shape[1]
    payload = (bytes(range(256)) * (size // 256 + 1))[:size] + extra
    return _idx(0x0803, (n, *shape), payload[: len(payload) - cut])


def _labels(values=(3, 1, 4, 1)):
    return _idx(0x0801, (len(values),), bytes(values))


HOSTILE = {
    # name: (file, content, error message pattern)
    "header_cut_in_magic": (IMAGES, _images()[:2], r"truncated: found 2 bytes, .*16"),
    "header_cut_in_dims": (IMAGES, _images()[:6], r"truncated: found 6 bytes, .*16"),
    "header_only_magic": (LABELS, _labels()[:4], r"truncated: found 4 bytes, .*8"),
    "payload_truncated": (
        IMAGES,
        _images(cut=10),
        r"declares dimensions \(4, 28, 28\), i\.e\. 3136 bytes .* holds only 3126; "
        "the file is truncated",
    ),
    "labels_truncated": (LABELS, _labels()[:-1], "holds only 3; the file is trunc"),
    "trailing_bytes": (
        IMAGES,
        _images(extra=b"\x00\x01"),
        r"more than the 3136 bytes .* \(4, 28, 28\) declare; .* trailing data",
    ),
    "labels_trailing_byte": (LABELS, _labels() + b"\x07", "trailing data"),
    "wrong_magic_labels_for_images": (
        IMAGES,
        _labels(),
        r"magic number 0x00000801, expected 0x00000803",
    ),
    "wrong_magic_float_dtype": (
        IMAGES,
        _idx(0x0D03, (N_TEST, 28, 28), bytes(4 * N_TEST * 784)),
        r"magic number 0x00000D03, expected 0x00000803; .* of another kind",
    ),
    "wrong_magic_text_file": (LABELS, b"hello world\n", r"magic number 0x68656C6C"),
    "zero_images": (
        IMAGES,
        _idx(0x0803, (0, 28, 28)),
        r"\(0, 28, 28\), expected every",
    ),
    "zero_width": (IMAGES, _idx(0x0803, (N_TEST, 28, 0)), r"\(4, 28, 0\), expected"),
    "zero_labels": (LABELS, _idx(0x0801, (0,)), r"dimensions \(0,\), expected every"),
    "dims_overflow_int64": (
        IMAGES,
        _idx(0x0803, (2**31, 2**31, 2**31), bytes(64)),
        r"\(2147483648, 2147483648, 2147483648\), i\.e\. "
        f"{2**93} bytes of data, expected at most {2**31} bytes",
    ),
    "dims_max_uint32": (
        IMAGES,
        _idx(0x0803, (2**32 - 1, 28, 28)),
        f"i\\.e\\. {(2**32 - 1) * 784} bytes of data, expected at most",
    ),
    "huge_dims_above_bound_tiny_file": (
        IMAGES,
        _idx(0x0803, (3_000_000, 28, 28), bytes(100)),
        r"\(3000000, 28, 28\), i\.e\. 2352000000 bytes .* expected at most",
    ),
    "huge_label_count_tiny_file": (
        LABELS,
        _idx(0x0801, (2**31 + 1,), bytes(4)),
        f"dimensions \\({2**31 + 1},\\), i\\.e\\. {2**31 + 1} bytes",
    ),
    "images_8x8": (IMAGES, _images(shape=(8, 8)), "size 8x8, expected 28x28"),
    "images_28x29": (IMAGES, _images(shape=(28, 29)), "size 28x29, expected 28x28"),
    "more_labels_than_images": (
        LABELS,
        _labels((1, 2, 3, 4, 5)),
        r"t10k-images\S* holds 4 images but .*t10k-labels\S* holds 5 labels",
    ),
    "fewer_labels_than_images": (LABELS, _labels((1, 2, 3)), "4 images but .* 3 lab"),
    "label_10": (
        LABELS,
        _labels((3, 10, 4, 1)),
        r"t10k-labels\S* holds labels \[10\], expected digit labels 0-9",
    ),
    "labels_out_of_range": (
        LABELS,
        _labels((255, 10, 200, 10)),
        r"holds labels \[10, 200, 255\], expected digit labels 0-9",
    ),
}


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("case", list(HOSTILE))
def test_load_mnist_hostile_file(tmp_path, case, gz):
    name, content, match = HOSTILE[case]
    _fake_mnist(tmp_path, gz=gz)
    path = tmp_path / (name + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(ValueError, match=f"'[^']*{name}(\\.gz)?'") as excinfo:
        load_mnist(tmp_path, subset="test")
    assert type(excinfo.value) is ValueError
    assert re.search(match, str(excinfo.value)), str(excinfo.value)


def test_load_mnist_many_bad_labels(tmp_path):
    _fake_mnist(tmp_path, gz=False)
    _write_idx(tmp_path / f"{IMAGES}", np.zeros((20, 28, 28)))
    _write_idx(tmp_path / f"{LABELS}", np.arange(236, 256))
    with pytest.raises(ValueError, match=r"\[236, .*245\] and 10 other value"):
        load_mnist(tmp_path, subset="test")


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_load_mnist_huge_dims_read_lazily(tmp_path, gz):
    """A header declaring 1.5 GB over a tiny file costs no more than the file."""
    _fake_mnist(tmp_path, gz=gz)
    suffix = ".gz" if gz else ""
    n = 2_000_000  # 2e6 x 28 x 28 = 1.57e9 bytes: below the 2 GiB bound
    content = _idx(0x0803, (n, 28, 28), bytes(5000))
    (tmp_path / (IMAGES + suffix)).write_bytes(
        gzip.compress(content) if gz else content
    )
    _write_idx(tmp_path / (LABELS + suffix), np.zeros(n, dtype=np.uint8)[:4])
    # the labels file disagrees (4 labels): caught from the headers alone
    with pytest.raises(ValueError, match=f"{n} images but .* 4 labels"):
        load_mnist(tmp_path, subset="test")
    (tmp_path / (LABELS + suffix)).write_bytes(
        (gzip.compress if gz else bytes)(_idx(0x0801, (n,), bytes(10)))
    )
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="holds only 5000; the file is trunc"):
            load_mnist(tmp_path, subset="test")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"peak {peak} bytes"


def _bomb(tmp_path, n_declared, *, n_zeros=4 * 2**20):
    """A gzip bomb: ``n_zeros`` zero bytes after a header declaring
    ``n_declared`` 28x28 images, compressed to a few KB."""
    _fake_mnist(tmp_path)
    compressed = gzip.compress(_idx(0x0803, (n_declared, 28, 28), bytes(n_zeros)))
    assert len(compressed) < 16 * 2**10  # the bomb: 4 MB in under 16 KB
    (tmp_path / f"{IMAGES}.gz").write_bytes(compressed)
    _write_idx(tmp_path / f"{LABELS}.gz", np.zeros(n_declared))


def test_load_mnist_gzip_bomb_trailing_data(tmp_path):
    _bomb(tmp_path, n_declared=10)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="more than the 7840 bytes .* trailing"):
            load_mnist(tmp_path, subset="test")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20, f"peak {peak} bytes: the bomb was decompressed"


def test_load_mnist_gzip_bomb_over_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "_MAX_IDX_BYTES", 2**20)
    _bomb(tmp_path, n_declared=5350)  # 5350 * 784 = 4194400 bytes declared
    with pytest.raises(
        ValueError,
        match=r"\(5350, 28, 28\), i\.e\. 4194400 bytes of data, expected at most "
        r"1048576 bytes",
    ) as excinfo:
        load_mnist(tmp_path, subset="test")
    assert type(excinfo.value) is ValueError
    # under a higher bound the file is read, and found shorter than declared
    monkeypatch.setattr(datasets, "_MAX_IDX_BYTES", 2**23)
    with pytest.raises(ValueError, match="holds only 4194304; the file is trunc"):
        load_mnist(tmp_path, subset="test")


def _gzip_cases():
    good = gzip.compress(_images(), mtime=0)
    return {
        # a stream cut short: EOFError inside gzip
        "truncated_stream": (good[:-8], "EOFError: Compressed file ended"),
        # the payload is complete but the CRC is wrong: only detected by
        # reading past the payload
        "bad_crc": (
            good[:-8] + bytes(b ^ 0xFF for b in good[-8:-4]) + good[-4:],
            "gzip.BadGzipFile: CRC check failed",
        ),
        # garbage inside the deflate stream: zlib.error
        "corrupt_deflate": (
            good[:10] + b"\xff" * 40 + good[50:],
            "zlib.error: Error -3 .*invalid",
        ),
        "not_gzip": (_images(), "gzip.BadGzipFile: Not a gzipped file"),
        "empty_file": (b"", r"truncated: found 0 bytes"),
        "gzip_of_nothing": (gzip.compress(b""), r"truncated: found 0 bytes"),
        "garbage_member": (good + b"\x1f\x8bXYZ", "(BadGzipFile|EOFError)"),
    }


@pytest.mark.parametrize("case", list(_gzip_cases()))
def test_load_mnist_broken_gzip(tmp_path, case):
    content, match = _gzip_cases()[case]
    _fake_mnist(tmp_path)
    (tmp_path / f"{IMAGES}.gz").write_bytes(content)
    with pytest.raises(ValueError, match=f"IDX file '[^']*{IMAGES}.gz'") as excinfo:
        load_mnist(tmp_path, subset="test")
    assert type(excinfo.value) is ValueError
    assert re.search(match, str(excinfo.value)), str(excinfo.value)


def test_load_mnist_gzip_without_suffix(tmp_path):
    _fake_mnist(tmp_path, gz=False)
    (tmp_path / IMAGES).write_bytes(gzip.compress(_images()))
    with pytest.raises(ValueError, match="looks gzip-compressed: name it with a .gz"):
        load_mnist(tmp_path, subset="test")


def test_load_mnist_unreadable_file(tmp_path, monkeypatch):
    _fake_mnist(tmp_path)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(datasets.gzip, "open", refuse)
    # a PermissionError naming the file, not "corrupt or truncated" (a probe)
    with pytest.raises(PermissionError, match="Cannot read IDX file .*permission") as e:
        load_mnist(tmp_path, subset="test")
    assert "corrupt" not in str(e.value)


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
        (
            dict(normal_class=0, test_size=1.5),
            r"'test_size' parameter .* a float in the range \(0.0, 1.0\), an int "
            r"in the range \[1, inf\) or None. Got 1.5 instead",
        ),
        (dict(normal_class=0, test_size=0), r"'test_size' .* Got 0 instead"),
        (dict(normal_class=0, test_size="10%"), r"'test_size' .* Got '10%'"),
        (
            dict(normal_class=0, test_size=100),
            r"test_size as an int must be in \[1, 99\]",
        ),
        (
            dict(normal_class=0, validation_size=1.0),
            r"'validation_size' parameter of make_one_class_split must be a float "
            r"in the range \[0.0, 1.0\). Got 1.0 instead",
        ),
        (dict(normal_class=0, validation_size=-0.1), "'validation_size' .* Got -0.1"),
        (dict(normal_class=0, validation_size="half"), "'validation_size' .* 'half'"),
        (dict(normal_class=None), "'normal_class' parameter .* Got None instead"),
        (dict(normal_class=0, random_state="seed"), "'random_state' parameter"),
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


def test_a_number_for_text_labels_gets_a_hint():
    X = np.zeros((20, 4))
    y = np.array(["1", "7"] * 10)
    with pytest.raises(ValueError, match=r"y holds strings: pass normal_class='1'"):
        make_one_class_split(X, y, normal_class=1, random_state=0)


def test_one_class_split_refuses_nan_as_the_normal_class(digits):
    # it said "not present in y ... pass normal_class=nan" (a probe)
    X, y = digits[0][:200].reshape(-1, 8, 8), digits[1][:200].astype(float)
    y[:5] = np.nan
    with pytest.raises(ValueError, match="holds NaN: NaN equals no label"):
        make_one_class_split(X, y, normal_class=np.nan, random_state=0)


def test_one_class_split_refuses_a_mask_as_the_normal_class(digits):
    """True == 1 in Python: normal_class=(y == 3) named digits 0 and 1 the
    normal class, and True digit 1, silently (a probe); boolean labels of a
    boolean y still work."""
    X, y = digits[0][:200].reshape(-1, 8, 8), digits[1][:200]
    for normal_class in (y == 3, True, [False, True]):
        with pytest.raises(ValueError, match="normal_class of booleans"):
            make_one_class_split(X, y, normal_class=normal_class, random_state=0)
    split = make_one_class_split(X, y == 3, normal_class=True, random_state=0)
    assert len(split.X_train) > 0


def test_one_class_split_labels_of_another_type_or_mixed(digits):
    # np.isin between numbers and strings answered by array size: the
    # presence check passed and the split then held no normal image
    X, y = digits[0][:200].reshape(-1, 8, 8), digits[1][:200]
    as_text = np.array([str(v) for v in y])
    with pytest.raises(ValueError, match=r"not present in y.*pass normal_class='1'"):
        make_one_class_split(X, as_text, normal_class=1, random_state=0)
    with pytest.raises(ValueError, match=r"not present in y.*pass normal_class=1\)"):
        make_one_class_split(X, y, normal_class="1", random_state=0)
    mixed = y.astype(object)
    mixed[0] = None
    with pytest.raises(ValueError, match="several types .NoneType, int."):
        make_one_class_split(X, mixed, normal_class=1, random_state=0)
    with pytest.raises(ValueError, match="would hold no normal samples"):
        make_one_class_split(
            X, y, normal_class=1, X_test=X[y != 1][:20], y_test=y[y != 1][:20]
        )


def test_one_class_split_of_a_rare_class_or_a_small_test_set(digits):
    """A class of one sample, or a test set smaller than the number of
    classes, gave scikit-learn's stratification error; test_size=True
    passed as 1 (a hostile probe)."""
    X, y = digits
    y = y.copy()
    y[0] = 42  # an outlier class of one sample
    split = make_one_class_split(X, y, normal_class=1, random_state=0)
    assert len(split.X_test) == int(np.ceil(0.3 * len(X)))
    small = make_one_class_split(
        X, digits[1], normal_class=1, test_size=0.01, random_state=0
    )
    assert len(small.X_test) == 18 and set(small.y_test) <= {-1, 1}
    with pytest.raises(ValueError, match="test_size must be a float .* not True"):
        make_one_class_split(X, digits[1], normal_class=1, test_size=True)
    # a split scikit-learn can stratify on y is the one it always was
    default = make_one_class_split(X, digits[1], normal_class=1, random_state=0)
    again = make_one_class_split(X, digits[1], normal_class=1, random_state=0)
    np.testing.assert_array_equal(default.X_test, again.X_test)


def test_one_class_split_takes_a_set_of_labels(digits):
    # numpy made {1, 2} one object label: "normal_class [{1, 2}] not present"
    X, y = digits[0][:200].reshape(-1, 8, 8), digits[1][:200]
    as_set = make_one_class_split(X, y, normal_class={1, 2}, random_state=0)
    as_list = make_one_class_split(X, y, normal_class=[2, 1], random_state=0)
    for name in ("X_train", "X_test", "y_test", "y_test_class"):
        np.testing.assert_array_equal(as_set[name], as_list[name])
    assert set(as_set.y_test_class[as_set.y_test == 1].tolist()) == {1, 2}

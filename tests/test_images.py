"""skcae.images: image files as a lazy array, a Pipeline loader, labelled folders."""

import os
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.utils import resample

import skcae._image_files
from skcae import ConvAutoencoderOutlierDetector
from skcae.images import ImageFileError, ImageFiles, ImageLoader, load_image_folder

Image = pytest.importorskip("PIL.Image")


def write_pngs(folder, images, start=0):
    """Save uint8 arrays (n, H, W) or (n, H, W, 3) as PNGs; return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(images, start):
        paths.append(folder / f"{i:04d}.png")
        Image.fromarray(image).save(paths[-1])
    return paths


@pytest.fixture(scope="module")
def pixels(digits):
    """The digits as uint8 8x8 gray images (0-240)."""
    X, y = digits
    return (X.reshape(-1, 8, 8) * 15).astype(np.uint8), y


@pytest.fixture(scope="module")
def folders(tmp_path_factory, pixels):
    """A folder of 120 gray 0s ("normal") and one of 40 other digits."""
    images, y = pixels
    root = tmp_path_factory.mktemp("digits")
    write_pngs(root / "normal", images[y == 0][:120])
    write_pngs(root / "abnormal", images[y != 0][:40])
    return root


@pytest.fixture
def decodes(monkeypatch):
    """Count the files decoded: ``decodes()`` is the count so far."""
    count = [0]
    original = skcae._image_files.decode

    def counted(*args, **kwargs):
        count[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(skcae._image_files, "decode", counted)
    return lambda: count[0]


# -- ImageFiles: what it reads ---------------------------------------------------
def test_defaults_read_a_folder_as_stored(folders, pixels):
    images, y = pixels
    files = ImageFiles(folders / "normal")
    assert files.shape == (120, 8, 8) and files.dtype == np.uint8
    assert files.mode == "L" and files.image_size == (8, 8) and len(files) == 120
    np.testing.assert_array_equal(np.asarray(files), images[y == 0][:120])
    assert files.paths == sorted(files.paths)
    assert repr(files) == "ImageFiles(120 files, shape=(120, 8, 8), mode='L')"


def test_colour_files_are_channels_first(tmp_path):
    rgb = np.random.RandomState(0).randint(0, 256, (5, 6, 7, 3)).astype(np.uint8)
    write_pngs(tmp_path, rgb)
    files = ImageFiles(tmp_path)
    assert files.shape == (5, 3, 6, 7) and files.mode == "RGB"
    np.testing.assert_array_equal(files[:], rgb.transpose(0, 3, 1, 2))
    gray = ImageFiles(tmp_path, mode="L")
    expected = np.asarray(Image.fromarray(rgb[2]).convert("L"))
    np.testing.assert_array_equal(gray[2], expected)


def test_size_resizes_height_then_width(tmp_path, pixels):
    write_pngs(tmp_path, pixels[0][:4])
    files = ImageFiles(tmp_path, size=(16, 12))
    assert files.shape == (4, 16, 12) and files.image_size == (16, 12)
    expected = Image.fromarray(pixels[0][1]).resize((12, 16), Image.BILINEAR)
    np.testing.assert_array_equal(files[1], np.asarray(expected))
    assert ImageFiles(tmp_path, size=5, mode="RGB").shape == (4, 3, 5, 5)


@pytest.mark.parametrize("ext", ["jpg", "tif", "bmp", "ppm"])
def test_other_formats(tmp_path, ext):
    image = np.full((9, 11, 3), 120, np.uint8)
    for i in range(3):
        Image.fromarray(image).save(tmp_path / f"{i}.{ext}")
    files = ImageFiles(tmp_path)
    assert files.shape == (3, 3, 9, 11)
    assert np.abs(files[:].astype(int) - 120).max() <= 2  # JPEG is lossy


def test_globs_lists_and_nested_folders(tmp_path, pixels):
    images = pixels[0][:6]
    write_pngs(tmp_path / "a", images[:3])
    write_pngs(tmp_path / "b" / "deep", images[3:], start=3)
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    (tmp_path / "a" / ".hidden.png").write_bytes(b"junk")
    assert len(ImageFiles(tmp_path)) == 6  # recursive; text and hidden skipped
    assert len(ImageFiles(str(tmp_path / "**" / "*.png"))) == 6
    assert len(ImageFiles([tmp_path / "a", tmp_path / "b"])) == 6
    order = [tmp_path / "b" / "deep" / "0004.png", tmp_path / "a" / "0001.png"]
    files = ImageFiles(order)  # a list keeps its order
    np.testing.assert_array_equal(files[:], images[[4, 1]])
    assert files.paths == [str(p) for p in order]
    assert len(ImageFiles(np.array([str(p) for p in order]))) == 2


def test_a_pattern_that_matches_folders_searches_them(tmp_path, pixels):
    """ "data/cam*" matching the folders cam1 and cam2 said it matched no
    files; a matched folder is searched as a folder named on its own is,
    and matched files stay rows (a .pnm file is an image too)."""
    images = pixels[0][:7]
    write_pngs(tmp_path / "cam1", images[:3])
    write_pngs(tmp_path / "cam2" / "deep", images[3:6], start=3)
    (tmp_path / "cam1" / "notes.txt").write_text("not an image")
    Image.fromarray(images[6]).save(tmp_path / "cam3.pnm")
    files = ImageFiles(str(tmp_path / "cam*"))
    assert files.paths == sorted(files.paths)  # one sorted list, as a folder's
    assert [os.path.relpath(p, tmp_path) for p in files.paths] == [
        os.path.join("cam1", "0000.png"),
        os.path.join("cam1", "0001.png"),
        os.path.join("cam1", "0002.png"),
        os.path.join("cam2", "deep", "0003.png"),
        os.path.join("cam2", "deep", "0004.png"),
        os.path.join("cam2", "deep", "0005.png"),
        "cam3.pnm",
    ]
    np.testing.assert_array_equal(files[:], images)
    assert len(ImageFiles(tmp_path)) == 7  # the folder search finds cam3.pnm
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no image files in the 1 folder"):
        ImageFiles(str(tmp_path / "empt*"))


def test_a_pattern_never_follows_a_link_above_its_folder(tmp_path, pixels):
    """ "data/*" matching data/up -> .. walked the parent of data (its
    siblings' images), which a search of data itself never follows."""
    data = tmp_path / "data"
    write_pngs(data / "a", pixels[0][:2])
    write_pngs(tmp_path / "sibling", pixels[0][2:4], start=2)
    (data / "up").symlink_to("..", target_is_directory=True)
    (data / "self").symlink_to(".", target_is_directory=True)
    expected = [str(data / "a" / "0000.png"), str(data / "a" / "0001.png")]
    assert ImageFiles(data).paths == expected
    assert ImageFiles(str(data / "*")).paths == expected


def test_a_file_unlike_the_first_names_both_alike(tmp_path, pixels, monkeypatch):
    """The error named the odd file by its absolute path and the first by
    the path as given ('./a.png')."""
    Image.fromarray(pixels[0][0]).save(tmp_path / "a.png")
    Image.fromarray(np.stack([pixels[0][1]] * 3, -1)).save(tmp_path / "b.png")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as info:
        np.asarray(ImageFiles("."))
    assert f"the first file {str(tmp_path / 'a.png')!r}" in str(info.value)
    assert f"{str(tmp_path / 'b.png')!r} is colour" in str(info.value)


def test_indexing_follows_numpy(folders):
    files = ImageFiles(folders / "normal")
    everything = np.asarray(files)
    assert files[3].shape == (8, 8)
    np.testing.assert_array_equal(files[-1], everything[-1])
    np.testing.assert_array_equal(files[10:2:-3], everything[10:2:-3])
    index = np.array([7, 2, 2, 50])  # unsorted, repeated
    np.testing.assert_array_equal(files[index], everything[index])
    np.testing.assert_array_equal(files[[1, -2]], everything[[1, -2]])
    mask = np.arange(120) % 7 == 0
    np.testing.assert_array_equal(files[mask], everything[mask])
    # scikit-learn's _safe_indexing and dask index with tuples
    np.testing.assert_array_equal(files[index, ...], everything[index])
    np.testing.assert_array_equal(files[0:4, 1:3, :], everything[0:4, 1:3, :])
    assert files[5:5].shape == (0, 8, 8)
    assert np.asarray(files, dtype=np.float32).dtype == np.float32
    with pytest.raises(IndexError, match="out of bounds"):
        files[120]
    with pytest.raises(IndexError, match="out of bounds"):
        files[[0, 200]]
    with pytest.raises(IndexError, match="boolean index"):
        files[np.ones(3, bool)]
    with pytest.raises(IndexError, match="takes an int"):
        files[np.array([0.5])]


def test_nothing_is_decoded_until_indexed(folders, decodes):
    files = ImageFiles(folders / "normal")
    assert decodes() == 0  # only the first file's header was read
    files[10:13]
    assert decodes() == 3


def test_to_npy(tmp_path, folders):
    files = ImageFiles(folders / "normal")
    array = files.to_npy(tmp_path / "x.npy", block_rows=50)
    assert isinstance(array, np.memmap) and array.shape == files.shape
    np.testing.assert_array_equal(array, np.asarray(files))


# -- ImageFiles: errors that name the file ------------------------------------------
def test_mismatched_sizes_and_modes_name_the_file(tmp_path, pixels):
    write_pngs(tmp_path, pixels[0][:2])
    Image.new("L", (9, 8)).save(tmp_path / "0002.png")  # 8 high, 9 wide
    files = ImageFiles(tmp_path)
    files[:2]  # the first two are fine
    with pytest.raises(
        ImageFileError,
        match=r"0002.png' is 8x9.*images are 8x8.*"
        r"0000.png'.*size=\(8, 8\)",
    ) as info:
        files[:]
    assert info.value.path.endswith("0002.png")
    np.testing.assert_array_equal(ImageFiles(tmp_path, size=8)[2], np.zeros((8, 8)))
    Image.new("RGB", (8, 8)).save(tmp_path / "0002.png")
    with pytest.raises(
        ValueError,
        match=r"0002.png' is colour \(mode 'RGB'\), but "
        r"the images are gray .*mode='L'",
    ):
        ImageFiles(tmp_path)[:]
    assert ImageFiles(tmp_path, mode="L")[:].shape == (3, 8, 8)


def test_a_pattern_that_matches_notes_says_how_to_read_the_images(tmp_path, pixels):
    """ "data/*" matches a README beside the images; reading it failed with
    Pillow's "cannot identify image file" and nothing on how to read the
    images alone (a probe)."""
    write_pngs(tmp_path, pixels[0][:2])
    (tmp_path / "notes.txt").write_text("taken on 2026-12-01")
    files = ImageFiles(str(tmp_path / "*"))
    with pytest.raises(ImageFileError, match=r"notes.txt'.*pass the folder itself"):
        files[:]
    assert ImageFiles(tmp_path)[:].shape == (2, 8, 8)
    (tmp_path / "0001.png").write_bytes(b"not a png")  # an image's name: no hint
    with pytest.raises(ImageFileError) as broken:
        ImageFiles(tmp_path)[:]
    assert "pass the folder" not in str(broken.value)


def test_the_first_and_later_unreadable_files_are_named_alike(
    tmp_path, pixels, monkeypatch
):
    """The first file's error named its relative path, a later one's the
    absolute path (a probe)."""
    write_pngs(tmp_path, pixels[0][:1])
    (tmp_path / "bad.png").write_bytes(b"not a png")
    monkeypatch.chdir(tmp_path)
    for paths in (["bad.png", "0000.png"], ["0000.png", "bad.png"]):
        with pytest.raises(ImageFileError) as error:
            ImageFiles(paths)[:]
        assert f"Cannot read image file {str(tmp_path / 'bad.png')!r}" in str(
            error.value
        )


def test_unreadable_files_name_the_file(tmp_path, pixels):
    write_pngs(tmp_path, pixels[0][:2])
    (tmp_path / "0001.png").write_bytes(b"not a png at all")
    with pytest.raises(ImageFileError, match=r"Cannot read image file .*0001.png'"):
        ImageFiles(tmp_path)[:]
    (tmp_path / "0000.png").write_bytes(b"")
    with pytest.raises(ImageFileError, match=r"Cannot read image file .*0000.png'"):
        ImageFiles(tmp_path)  # the first file's header is read at once
    good = write_pngs(tmp_path / "ok", pixels[0][:2])
    files = ImageFiles(good)
    good[1].unlink()
    with pytest.raises(ImageFileError, match="does not exist"):
        files[1]


def test_images_it_would_read_wrongly_are_refused(tmp_path):
    Image.fromarray(np.full((4, 4), 1000, np.uint16)).save(tmp_path / "a.png")
    with pytest.raises(ImageFileError, match=r"mode 'I;16'.*16-bit"):
        ImageFiles(tmp_path)
    with pytest.raises(ImageFileError, match=r"16-bit"):
        ImageFiles(tmp_path, mode="L")[0]  # never clipped to 255
    frames = [Image.new("L", (4, 4), c) for c in (0, 100)]
    frames[0].save(tmp_path / "b.tif", save_all=True, append_images=frames[1:])
    with pytest.raises(ImageFileError, match=r"b.tif' holds 2 frames"):
        ImageFiles(tmp_path / "b.tif", mode="L")[0]


@pytest.mark.parametrize(
    "paths, match",
    [
        ("no/such/folder", "No such file or folder"),
        ("no/such/*.png", "matches no files"),
        ([], "Got no paths"),
        ([1, 2], r"Got 1 \(a int\) among the paths"),
        (np.zeros((2, 2)), r"array of shape \(2, 2\)"),
        (3.5, "Got paths of type float"),
    ],
)
def test_bad_paths(paths, match):
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        ImageFiles(paths)


def test_empty_folder(tmp_path):
    (tmp_path / "readme.txt").write_text("no images")
    with pytest.raises(FileNotFoundError, match="Found no image files"):
        ImageFiles(tmp_path)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"size": 0}, "size=0"),
        ({"size": (3, 4, 5)}, "height, width"),
        ({"mode": "RGBA"}, "mode='RGBA'"),
        # 30 GB an image once killed the process
        ({"size": (100_000, 100_000)}, "10,000,000,000 pixels an image"),
    ],
)
def test_bad_parameters(folders, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ImageFiles(folders / "normal", **kwargs)
    with pytest.raises(ValueError, match=match):
        ImageLoader(**kwargs).fit(folders / "normal")


def test_without_pillow(monkeypatch, folders):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r'pip install "skcae\[images\]"'):
        ImageFiles(folders / "normal")


# -- with the estimators ---------------------------------------------------------------
def test_fit_and_score_stream_the_files_like_an_array(folders, tiny, decodes):
    files = ImageFiles(folders / "normal")
    array = np.asarray(files)
    before = decodes()
    det = ConvAutoencoderOutlierDetector(**tiny).fit(files)
    assert decodes() - before >= 120  # read from the files, not a copy
    reference = ConvAutoencoderOutlierDetector(**tiny).fit(array)
    test = ImageFiles(folders / "abnormal")
    np.testing.assert_array_equal(
        det.score_samples(test), reference.score_samples(np.asarray(test))
    )
    assert det.input_shape_ == (8, 8) and det.image_shape_ == (1, 8, 8)


def test_colour_files_need_no_data_format(tmp_path, tiny):
    rgb = np.random.RandomState(0).randint(0, 256, (30, 6, 6, 3)).astype(np.uint8)
    write_pngs(tmp_path, rgb)
    det = ConvAutoencoderOutlierDetector(**tiny).fit(ImageFiles(tmp_path))
    assert det.image_shape_ == (3, 6, 6)
    maps = det.anomaly_map(ImageFiles(tmp_path))
    assert maps.shape == (30, 3, 6, 6)


def test_a_channels_last_model_reads_files_channels_first(tmp_path, tiny):
    """A model fitted on (n, H, W, 3) arrays scores, reconstructs and is
    refitted on colour files (read (n, 3, H, W)) without moving their axis:
    np.moveaxis would decode them all."""
    rgb = np.random.RandomState(0).randint(0, 256, (30, 6, 6, 3)).astype(np.uint8)
    paths = write_pngs(tmp_path, rgb)
    files = ImageFiles(paths)

    def make():
        return ConvAutoencoderOutlierDetector(data_format="channels_last", **tiny)

    det = make().fit(rgb)
    np.testing.assert_array_equal(det.score_samples(files), det.score_samples(rgb))
    np.testing.assert_array_equal(  # in the files' own layout
        det.reconstruct(files), np.moveaxis(det.reconstruct(rgb), -1, 1)
    )
    on_files = make().fit(files)
    assert on_files.input_shape_ == det.input_shape_ == (6, 6, 3)
    np.testing.assert_array_equal(on_files.score_samples(rgb), det.score_samples(rgb))
    pipe = make_pipeline(ImageLoader(), make()).fit(paths)
    np.testing.assert_array_equal(pipe.score_samples(paths), det.score_samples(rgb))


def test_rows_split_off_files_are_not_misread_channels_last(tmp_path, tiny):
    """scikit-learn's splits take rows of an ImageFiles as (n, 3, H, W)
    arrays, which a channels-last estimator read as 6-channel 3x6 images
    without a word (a review); they are refused, naming the way out."""
    from sklearn.model_selection import cross_validate

    rgb = np.random.RandomState(0).randint(0, 256, (30, 6, 6, 3)).astype(np.uint8)
    write_pngs(tmp_path, rgb)
    det = ConvAutoencoderOutlierDetector(data_format="channels_last", **tiny)
    y = np.r_[np.ones(15), np.zeros(15)]
    with pytest.raises(ValueError, match=r"look like channels-first.*ImageLoader"):
        cross_validate(
            det, ImageFiles(tmp_path), y, scoring="roc_auc", error_score="raise"
        )
    # an image_shape says such arrays are channels last after all
    explicit = clone(det).set_params(image_shape=(3, 6, 6))
    assert explicit.fit(np.moveaxis(rgb, -1, 1)).image_shape_ == (6, 3, 6)


def test_pipeline_and_grid_search_split_paths(folders, tiny, decodes):
    data = load_image_folder(folders / "normal", folders / "abnormal")
    pipe = make_pipeline(ImageLoader(), ConvAutoencoderOutlierDetector(**tiny))
    grid = GridSearchCV(
        pipe,
        {"convautoencoderoutlierdetector__latent_dim": [2, 3]},
        scoring="roc_auc",
        cv=StratifiedKFold(2, shuffle=True, random_state=0),
    ).fit(data.paths, data.target)
    assert grid.best_score_ > 0.5
    auc = roc_auc_score(data.target, grid.best_estimator_.score_samples(data.paths))
    assert auc > 0.5
    # the lazy array itself also goes through GridSearchCV's indexing
    grid = GridSearchCV(
        ConvAutoencoderOutlierDetector(**tiny),
        {"latent_dim": [2]},
        scoring="roc_auc",
        cv=StratifiedKFold(2, shuffle=True, random_state=0),
    ).fit(data.images, data.target)
    assert grid.best_score_ > 0.5


def test_pipeline_takes_a_folder(folders, tiny):
    pipe = make_pipeline(ImageLoader(), ConvAutoencoderOutlierDetector(**tiny))
    labels = pipe.fit(folders / "normal").predict(str(folders / "abnormal"))
    assert labels.shape == (40,) and set(labels) <= {-1, 1}


def test_a_pipeline_from_paths_gives_frames_with_set_output(folders, tiny):
    # Pipeline.set_output sets every step's: the loader had none (a probe)
    pytest.importorskip("pandas")
    from skcae import ConvAutoencoder

    pipe = make_pipeline(ImageLoader(), ConvAutoencoder(**tiny))
    codes = pipe.set_output(transform="pandas").fit_transform(folders / "normal")
    assert codes.shape == (120, tiny["latent_dim"])
    assert list(codes.columns) == [
        f"convautoencoder{i}" for i in range(tiny["latent_dim"])
    ]
    assert ImageLoader().set_output(transform="pandas").transform(
        folders / "normal"
    ).shape == (120, 8, 8)  # images stay an array


def test_load_image_folder(folders):
    data = load_image_folder(folders / "normal", folders / "abnormal")
    assert data.images.shape == (160, 8, 8)
    assert data.target.dtype == np.int64
    assert data.target.tolist() == [1] * 120 + [-1] * 40
    assert list(data.paths) == data.images.paths
    assert data.paths[0].endswith("0000.png") and "abnormal" in data.paths[-1]
    only_normal = load_image_folder(folders / "normal", size=4, mode="RGB")
    assert only_normal.images.shape == (120, 3, 4, 4)
    assert set(only_normal.target) == {1}


def test_loader_is_a_stateless_estimator(folders):
    loader = ImageLoader(size=(4, 4))
    assert clone(loader).get_params() == {"size": (4, 4), "mode": None}
    assert loader.transform(folders / "normal").shape == (120, 4, 4)  # no fit
    assert loader.fit(folders / "normal") is loader
    assert not [k for k in vars(loader) if k.endswith("_")]  # nothing learnt
    with pytest.raises(ValueError, match="among the X"):
        loader.fit([np.zeros(3)])


# -- paths and PIL images given straight to the estimators -----------------------------
@pytest.mark.parametrize(
    "make_X",
    [
        lambda root: str(root / "normal"),
        lambda root: root / "normal",
        lambda root: [str(p) for p in sorted((root / "normal").iterdir())],
        lambda root: np.array(sorted(str(p) for p in (root / "normal").iterdir())),
    ],
    ids=["str", "Path", "list", "array"],
)
def test_paths_given_to_fit_name_the_loader(folders, make_X, fitted):
    X = make_X(folders)
    with pytest.raises(ValueError, match=r"skcae.images.ImageFiles\(paths\)"):
        ConvAutoencoderOutlierDetector().fit(X)
    with pytest.raises(ValueError, match="ImageLoader"):
        fitted.score_samples(X)


def test_a_list_of_pil_images_is_accepted(pixels, tiny):
    images = pixels[0][:60]
    pil = [Image.fromarray(image) for image in images]
    det = ConvAutoencoderOutlierDetector(**tiny).fit(pil)
    reference = ConvAutoencoderOutlierDetector(**tiny).fit(images)
    np.testing.assert_array_equal(
        det.score_samples(pil), reference.score_samples(images)
    )
    rgb = [image.convert("RGB") for image in pil]  # (n, H, W, 3) as numpy reads them
    with pytest.raises(ValueError, match="channels_last"):
        ConvAutoencoderOutlierDetector(**tiny).fit(rgb)
    det = ConvAutoencoderOutlierDetector(data_format="channels_last", **tiny).fit(rgb)
    assert det.image_shape_ == (3, 8, 8)


def test_pil_images_numpy_would_read_wrongly_are_refused(pixels, fitted):
    pil = [Image.fromarray(image) for image in pixels[0][:10]]
    with pytest.raises(ValueError, match=r"palette .*convert\('RGB'\)"):
        fitted.score_samples(pil[:5] + [pil[5].convert("P")])
    with pytest.raises(ValueError, match=r"image 3 is 'L' 4x4.*size=\(height, width\)"):
        fitted.score_samples(pil[:3] + [pil[3].resize((4, 4))])
    with pytest.raises(ValueError, match=r"Got one PIL image .*\[image\]"):
        fitted.score_samples(pil[0])


# -- shape errors that speak of images -------------------------------------------------
def test_one_image_without_batch_axis_says_how_to_add_it(pixels, tiny):
    images = pixels[0][:40]
    det = ConvAutoencoderOutlierDetector(**tiny).fit(images)
    with pytest.raises(ValueError, match=r"shape \(8, 8\): one sample.*X\[None\]"):
        det.score_samples(images[0])
    assert det.score_samples(images[0][None]).shape == (1,)
    rgb = np.random.RandomState(0).rand(20, 3, 6, 6)
    det = ConvAutoencoderOutlierDetector(**tiny).fit(rgb)
    with pytest.raises(ValueError, match=r"X\[i:i \+ 1\] rather than X\[i\]"):
        det.predict(rgb[0])
    one_channel = ConvAutoencoderOutlierDetector(**tiny).fit(rgb[:, :1])
    # (1, 6, 6) is also one gray 6x6 image: scored, not refused
    assert one_channel.score_samples(rgb[0, :1]).shape == (1,)


def test_another_number_of_channels_is_named_not_sent_to_resize(rgb, tiny):
    """The same pixels in gray against colour: the channels differ, not the
    size (the message said "resize them to 6x5")."""
    colour = ConvAutoencoderOutlierDetector(**tiny).fit(rgb)
    with pytest.raises(
        ValueError,
        match=r"X holds images of 1 channel\(s\) .*fitted on images of 3 "
        r"channel\(s\).*mode='RGB'",
    ) as err:
        colour.score_samples(rgb[:, 0])
    assert "resize" not in str(err.value)
    gray = ConvAutoencoderOutlierDetector(**tiny).fit(rgb[:, 0])
    with pytest.raises(ValueError, match=r"pass images with 1 channel.*mode='L'"):
        gray.score_samples(rgb)


def test_other_image_sizes_name_the_fitted_size(pixels, tiny):
    det = ConvAutoencoderOutlierDetector(**tiny).fit(pixels[0][:40])
    big = np.zeros((3, 10, 10))
    with pytest.raises(
        ValueError,
        match=r"X has 100 features, but ConvAutoencoderOutlierDetector is expecting "
        r"64 features as input; X holds images of shape \(1, 10, 10\) \(10x10 "
        r"pixels, 1 channel\), but this estimator was fitted on images of shape "
        r"\(1, 8, 8\) \(C, H, W: 8x8 pixels, 1 channel\); resize them to 8x8",
    ):
        det.score_samples(big)
    with pytest.raises(
        ValueError,
        match=r"expecting 64 features as input \(images "
        r"of shape \(1, 8, 8\) \(C, H, W\), flattened\)",
    ):
        det.score_samples(big.reshape(3, -1))


# -- ImageFiles: what a folder may hold besides images ---------------------------
def png_16bit(path, width, height, colour_type):
    """Write a 16-bit PNG (Pillow writes 16-bit gray only): colour type 2 is
    RGB, 4 gray with alpha, 6 RGBA."""
    import struct
    import zlib

    channels = {2: 3, 4: 2, 6: 4}[colour_type]
    rows = b"".join(b"\x00" + b"\x12\x34" * channels * width for _ in range(height))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return path


def tiff_16bit(path, width, height, samples):
    """Write an uncompressed 16-bit TIFF (Pillow writes 16-bit gray only):
    3 samples RGB, 4 RGBA (12-bit values, as a sensor's)."""
    import struct

    pixels = np.arange(width * height * samples, dtype="<u2") % 4096
    data = pixels.tobytes()
    n_tags = 10 + (samples == 4)
    bits_at = 8 + 2 + 12 * n_tags + 4  # after the IFD
    data_at = bits_at + 2 * samples
    tags = [
        (256, 3, 1, width),
        (257, 3, 1, height),
        (258, 3, samples, bits_at),  # BitsPerSample: 16 each, at an offset
        (259, 3, 1, 1),  # no compression
        (262, 3, 1, 2),  # RGB
        (273, 4, 1, data_at),
        (277, 3, 1, samples),
        (278, 3, 1, height),
        (279, 4, 1, len(data)),
        (284, 3, 1, 1),
    ] + ([(338, 3, 1, 2)] if samples == 4 else [])  # unassociated alpha
    ifd = struct.pack("<H", n_tags)
    for tag, kind, count, value in tags:
        packed = (
            struct.pack("<H", value) + b"\0\0"
            if kind == 3 and count == 1
            else (struct.pack("<I", value))
        )
        ifd += struct.pack("<HHI", tag, kind, count) + packed
    ifd += struct.pack("<I", 0)
    bits = struct.pack("<" + "H" * samples, *[16] * samples)
    path.write_bytes(b"II*\0" + struct.pack("<I", 8) + ifd + bits + data)
    return path


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="no FIFOs")
def test_named_pipes_are_refused_not_read(tmp_path, pixels):
    # opening a FIFO blocks until a writer comes: the listing must refuse it
    import os

    images, _ = pixels
    write_pngs(tmp_path / "f", images[:3])
    os.mkfifo(tmp_path / "f" / "0001x.png")
    for paths in (tmp_path / "f", str(tmp_path / "f" / "*.png")):
        with pytest.raises(ImageFileError, match="0001x.png' is a named pipe"):
            ImageFiles(paths)
    with pytest.raises(ImageFileError, match="is a named pipe, not an image file"):
        ImageFiles(tmp_path / "f" / "0001x.png")


def test_symbolic_links_are_followed_once(tmp_path, pixels):
    import os

    images, _ = pixels
    write_pngs(tmp_path / "d" / "real", images[:2])
    os.symlink("real", tmp_path / "d" / "alias")  # the same folder twice
    os.symlink(".", tmp_path / "d" / "real" / "loop")  # a folder in itself
    for paths in (tmp_path / "d", str(tmp_path / "d" / "**" / "*.png")):
        files = ImageFiles(paths)
        assert len(files) == 2
        assert sorted(os.path.basename(p) for p in files.paths) == [
            "0000.png",
            "0001.png",
        ]
    os.symlink(".", tmp_path / "d" / "real" / "loop2")  # 2**depth paths to glob
    os.symlink("..", tmp_path / "d" / "real" / "up")  # the siblings: never
    write_pngs(tmp_path / "d" / "sibling", images[2:3])
    assert (
        ImageFiles(tmp_path / "d" / "real").paths
        == ImageFiles(str(tmp_path / "d" / "real" / "**" / "*.png")).paths
        == [str(tmp_path / "d" / "real" / f"000{i}.png") for i in (0, 1)]
    )
    os.symlink(tmp_path / "gone.png", tmp_path / "d" / "real" / "broken.png")
    with pytest.raises(ImageFileError, match="broken.png' is a broken symbolic link"):
        ImageFiles(tmp_path / "d")


def test_an_unreadable_subfolder_is_an_error_not_skipped(tmp_path, pixels, monkeypatch):
    import os

    images, _ = pixels
    write_pngs(tmp_path / "p", images[:2])
    write_pngs(tmp_path / "p" / "sub", images[2:4])
    scandir = os.scandir

    def denied(path="."):  # as for a folder without read permission (root reads all)
        if os.fspath(path).endswith("sub"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", denied)
    with pytest.raises(ImageFileError, match="Cannot list the folder .*sub"):
        ImageFiles(tmp_path / "p")


def test_rows_do_not_depend_on_the_working_directory(tmp_path, pixels, monkeypatch):
    images, _ = pixels
    write_pngs(tmp_path / "a" / "imgs", images[:2])
    write_pngs(tmp_path / "b" / "imgs", images[2:4])  # the same names elsewhere
    monkeypatch.chdir(tmp_path / "a")
    files = ImageFiles("imgs")
    monkeypatch.chdir(tmp_path / "b")
    np.testing.assert_array_equal(files[:], images[:2])
    assert files.paths[0] == "imgs/0000.png"  # as listed, for the user


def test_sixteen_bit_pngs_are_refused_palette_alpha_is_colour(tmp_path):
    Image.new("RGB", (3, 2)).save(tmp_path / "ok.png")
    for colour_type in (2, 4, 6):  # Pillow reads these in 8-bit modes
        path = png_16bit(tmp_path / f"c{colour_type}.png", 3, 2, colour_type)
        with pytest.raises(ImageFileError, match="c.\\.png' is a 16-bit PNG"):
            ImageFiles(path)  # the first file
        with pytest.raises(ImageFileError, match="c.\\.png' is a 16-bit PNG"):
            ImageFiles([tmp_path / "ok.png", path], mode="RGB")[1]  # a later one
    # 16-bit colour TIFF files: 8-bit modes in Pillow too (a probe's 12-bit
    # sensor data came out as values 0-15); 8-bit ones are read
    for samples in (3, 4):
        path = tiff_16bit(tmp_path / f"t{samples}.tif", 3, 2, samples)
        with Image.open(path) as img:  # what Pillow makes of it
            assert img.mode in ("RGB", "RGBA") and np.asarray(img).max() <= 15
        with pytest.raises(ImageFileError, match="t.\\.tif' is a 16-bit TIFF"):
            ImageFiles(path)
        with pytest.raises(ImageFileError, match="t.\\.tif' is a 16-bit TIFF"):
            ImageFiles([tmp_path / "ok.png", path], mode="RGB")[1]
    # (16-bit colour PPM files: scaled to 8 bits by their maximum, as
    # documented)
    (tmp_path / "p16.ppm").write_bytes(b"P6 3 2 4095\n" + b"\x0f\xff" * 18)
    assert ImageFiles(tmp_path / "p16.ppm")[:].max() == 255
    (tmp_path / "p8.ppm").write_bytes(b"P6 3 2 255\n" + b"\x80" * 18)
    Image.new("RGB", (3, 2), (1, 2, 3)).save(tmp_path / "rgb8.tif")
    assert ImageFiles(tmp_path / "p8.ppm")[:].max() == 128
    assert ImageFiles(tmp_path / "rgb8.tif")[:].max() == 3
    Image.new("PA", (3, 2)).save(tmp_path / "pa.tif")
    assert ImageFiles(tmp_path / "pa.tif").shape == (1, 3, 2, 3)
    # a palette image among gray ones: the error names its own mode
    Image.new("L", (3, 2)).save(tmp_path / "gray.png")
    Image.new("L", (3, 2)).convert("P").save(tmp_path / "palette.png")
    files = ImageFiles([tmp_path / "gray.png", tmp_path / "palette.png"])
    with pytest.raises(
        ImageFileError,
        match=r"palette\.png' is colour \(Pillow mode 'P', read as 'RGB'\), but "
        r"the images are gray \(mode 'L'\).*mode='L'",
    ):
        files[1]


def test_to_npy_is_atomic_and_checks_its_arguments(tmp_path, folders, pixels):
    files = ImageFiles(folders / "normal")
    cache = tmp_path / "cache.npy"
    good = np.array(files.to_npy(cache, block_rows=7))
    # a file that fails to decode midway leaves the earlier cache as it was
    images, _ = pixels
    write_pngs(tmp_path / "bad", images[:120])
    (tmp_path / "bad" / "0100.png").write_bytes(b"not a png")
    with pytest.raises(ImageFileError, match="0100.png"):
        ImageFiles(tmp_path / "bad").to_npy(cache, block_rows=16)
    np.testing.assert_array_equal(np.load(cache), good)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "cache.npy"]
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="expected a positive int"):
            files.to_npy(tmp_path / "x.npy", block_rows=bad)
    with pytest.raises(ValueError, match="is one of the images"):
        files.to_npy(files.paths[3])
    assert Image.open(files.paths[3]).size == (8, 8)


def test_a_file_found_twice_is_refused(folders):
    """A folder and one of its files (or one folder twice) would make two
    rows of one image by accident: refused, naming both entries."""
    one = sorted((folders / "normal").iterdir())[0]
    for paths in ([folders / "normal", one], [one, folders / "normal"]):
        with pytest.raises(ValueError, match="is named twice, by"):
            ImageFiles(paths)
    with pytest.raises(ValueError, match="is named twice, by"):
        ImageFiles([folders, folders / "normal"])
    assert len(ImageFiles([one])) == 1


def test_a_file_listed_again_is_a_row_again(folders):
    """A resample of file paths (sklearn.utils.resample, a bootstrap) names
    files more than once: each name is a row, in the list's order."""
    paths = [str(p) for p in sorted((folders / "normal").iterdir())[:4]]
    drawn = resample(paths, random_state=0)
    assert len(set(drawn)) < len(drawn)  # the draw repeats a file
    files = ImageFiles(drawn)
    assert files.paths == drawn
    expected = np.stack([np.asarray(Image.open(p)) for p in drawn])
    np.testing.assert_array_equal(np.asarray(files), expected)
    np.testing.assert_array_equal(ImageLoader().fit_transform(drawn), expected)


def test_load_image_folder_refuses_overlapping_folders(folders):
    with pytest.raises(ValueError, match="both normal and abnormal"):
        load_image_folder(folders / "normal", folders)
    with pytest.raises(ValueError, match="both normal and abnormal"):
        load_image_folder(folders / "normal", folders / "normal")


def test_load_image_folder_refuses_a_hard_link_to_a_normal_file(tmp_path, pixels):
    """A symbolic link from the abnormal folder to a normal file was
    refused, a hard link got both labels (a probe)."""
    images, _ = pixels
    normal = write_pngs(tmp_path / "good", images[:3])
    write_pngs(tmp_path / "bad", images[3:4])
    os.link(normal[0], tmp_path / "bad" / "same.png")
    with pytest.raises(ValueError, match="1 file.s. are both normal and abnormal"):
        load_image_folder(tmp_path / "good", tmp_path / "bad")
    (tmp_path / "bad" / "same.png").unlink()
    data = load_image_folder(tmp_path / "good", tmp_path / "bad")
    assert data.target.tolist() == [1, 1, 1, -1]


def test_memory_retrains_when_the_files_change(tmp_path, pixels, tiny):
    """joblib's Memory keys a network by the pickled ImageFiles: its paths
    only, so a fit after two files swapped names (same statistics, other
    training data) reused the network of the old ones (a probe). The
    pickled state holds each file's inode, size and mtime; unchanged files
    still reuse the cache."""
    import pickle

    images, _ = pixels
    paths = write_pngs(tmp_path / "imgs", images[:60])
    params = dict(tiny, memory=str(tmp_path / "cache"), random_state=0)
    first = ConvAutoencoderOutlierDetector(**params).fit(ImageFiles(tmp_path / "imgs"))
    again = ConvAutoencoderOutlierDetector(**params).fit(ImageFiles(tmp_path / "imgs"))
    a, b = str(paths[0]), str(paths[1])
    os.rename(a, a + ".t")
    os.rename(b, a)
    os.rename(a + ".t", b)
    files = ImageFiles(tmp_path / "imgs")
    cached = ConvAutoencoderOutlierDetector(**params).fit(files)
    fresh = ConvAutoencoderOutlierDetector(**dict(params, memory=None)).fit(files)
    X = images[100:140]
    np.testing.assert_array_equal(cached.score_samples(X), fresh.score_samples(X))
    assert not np.array_equal(cached.score_samples(X), first.score_samples(X))
    np.testing.assert_array_equal(again.score_samples(X), first.score_samples(X))
    copy = pickle.loads(pickle.dumps(files))  # the stamps are not kept
    assert "_stamps" not in vars(copy)
    np.testing.assert_array_equal(copy[:], files[:])

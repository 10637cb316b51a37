"""Parameter descriptions shared by the estimators' docstrings.

Each estimator's docstring names the blocks it shares as ``%(name)s``
placeholders and :class:`Substitution` fills them in, as imbalanced-learn
does, so a shared parameter is described once and cannot drift.
"""

import textwrap


class Substitution:
    """Decorator: fill ``%(name)s`` placeholders of a docstring.

    Each value is indented like the placeholder's line, so a multi-line
    block can stand in for one line of an indented docstring. A literal
    ``%`` in a docstring using it must be written ``%%``.
    """

    def __init__(self, **params):
        self.params = params

    def __call__(self, obj):
        doc = obj.__doc__
        if doc:
            lines = []
            for line in doc.splitlines():
                stripped = line.strip()
                name = stripped[2:-2] if stripped.startswith("%(") else None
                if name is not None and stripped == f"%({name})s":
                    indent = line[: len(line) - len(line.lstrip())]
                    block = textwrap.indent(self.params[name].strip("\n"), indent)
                    lines.append(block)
                else:
                    lines.append(line % self.params if "%(" in line else line)
            obj.__doc__ = "\n".join(lines) + ("\n" if doc.endswith("\n") else "")
        return obj


IMAGE_INPUT = """\
image_shape : tuple of int, default=None
    ``(H, W)`` or ``(C, H, W)`` of one image when X is 2-D
    ``(n_samples, C*H*W)``, e.g. after a scaler in a Pipeline. With
    None, a 2-D X is read as one-channel signals of length n_features,
    and 3-D ``(n, H, W)`` or 4-D arrays carry their own shape.
data_format : {"channels_first", "channels_last"}, default=None
    How images are laid out: ``"channels_first"`` is ``(n, C, H, W)``
    (PyTorch), ``"channels_last"`` is ``(n, H, W, C)`` (PIL, matplotlib,
    OpenCV); with it, a 3-entry ``image_shape`` is ``(H, W, C)`` and flat
    rows hold each image's values in that order.
    None reads ``(n, C, H, W)`` but refuses, with an error that names
    this parameter, arrays that look channels-last (a last axis of 1 to 4
    next to larger ones, e.g. ``(n, 32, 32, 3)``), so they are never
    misread silently. An :class:`~skcae.images.ImageFiles` is read by its
    own layout (channels first) whatever this parameter says; rows taken
    of it by index (scikit-learn's splits) are arrays, and
    ``"channels_last"`` refuses at fit arrays that look channels first
    (``(n, 3, 32, 32)``: a second axis of 1 to 4 before larger ones)
    unless ``image_shape`` is given.
channels : tuple of int, default=(8, 8)
    Output channels of each encoder block (convolution, activation, 2x2
    max pooling); the decoder mirrors them with nearest-neighbour
    upsampling and convolutions. At most one block more than the image
    can be halved (4 for 8x8 images, 6 for 28x28). A list or a 1-D int
    array is taken as the tuple.
kernel_size : int, default=3
    Odd side of the square convolution kernels, at most ``2 * max(H, W) -
    1`` (and 3 on any image) for images of ``H x W`` pixels: larger
    kernels only add weights that never meet a pixel."""

#: The training defaults of the convolutional and the dense estimators.
CONV_TRAINING = {"max_epochs": '"auto"', "lr": '"auto"', "lr_schedule": '"onecycle"'}
DENSE_TRAINING = {"max_epochs": "50", "lr": "1e-3", "lr_schedule": '"constant"'}

TRAINING = """\
max_epochs : int or "auto", default=%(max_epochs)s
    Number of passes over the training data. "auto" trains for at least
    4 epochs and 160 optimiser steps, at most 40 epochs: 4 epochs from
    about 5,000 images on, more for smaller sets (14-20 for one digit of
    scikit-learn's 8x8 digits).
batch_size : int or "auto", default="auto"
    Samples per training step. "auto" takes ``n_samples // 16`` clipped
    to [16, 128]: about 16 steps per epoch, so small training sets are not
    left with a couple of steps per epoch; fewer for samples of more than
    131,072 values, at most 2**24 values a batch (16 images of 1024x1024
    pixels, one of 3000x3000), so that a batch fits in memory.
lr : float or "auto", default=%(lr)s
    Learning rate (the peak rate of the one-cycle schedule). "auto"
    shares a budget of 0.96 over the schedule's optimiser steps, between
    3e-3 and 8e-3: 6e-3 for the 160 steps of a small set, 5e-3-6e-3
    for one MNIST digit (4 epochs of about 40-48 batches of 128), 3e-3
    from 320 steps on.
lr_schedule : {"onecycle", "constant"}, default=%(lr_schedule)s
    "onecycle" warms the rate up from ``lr / 25`` to ``lr`` over the
    first quarter of the steps, then anneals it (cosine) to almost zero,
    cycling Adam's beta1 (SGD's momentum) the other way
    (:class:`torch.optim.lr_scheduler.OneCycleLR`): as accurate in a
    few epochs as a constant rate in 20. "constant" keeps ``lr``.
optimizer : {"adam", "adamw", "sgd", "rmsprop"} or torch optimizer class, \
default="adam"
    Optimiser; "sgd" uses momentum 0.9. A class must take
    ``weight_decay`` and step without a closure (not ``LBFGS``).
weight_decay : float, default=0.0
    L2 penalty passed to the optimiser.
validation_fraction : float in (0, 1), default=None
    Fraction of the training data held out to measure a validation loss
    each epoch (``history_["valid_loss"]``). None trains on all of X.
n_iter_no_change : int, default=None
    Stop when the monitored loss (validation loss if
    ``validation_fraction`` is set, else training loss) has not improved
    for this many epochs, and restore the best weights. None trains for
    ``max_epochs``.
noise_std : float, default=0.0
    Denoising: standard deviation of the Gaussian noise added to each
    standardised input value (z-scores per channel for images, per
    feature for tabular rows, so 1.0 is as large as the data's own
    spread) during training only. The network learns
    to reconstruct the clean input; scoring never adds noise.
mask_fraction : float in [0, 1), default=0.0
    Denoising: fraction of input values set to their channel's (or
    feature's) mean (masked) during training only, at random each step."""

RUNNING = """\
memory : str, joblib.Memory or None, default=None
    Caches the trained network, as :class:`~sklearn.pipeline.Pipeline`
    caches its transformers: a str is a cache folder. The key is the
    training data and the parameters that change the network; the
    parameters of scoring and thresholds are not part of it, so a
    :class:`~sklearn.model_selection.GridSearchCV` over them trains once
    per split. ``random_state`` enters as the seed drawn from it, so a
    network is reused only where training again would give the same one:
    with an int ``random_state``.
device : str, default="auto"
    Torch device for training and scoring: "cpu", "cuda", "cuda:1" ...
    "auto" uses CUDA when available.
mixed_precision : bool, default=False
    Train and score under bfloat16 autocast (:func:`torch.autocast`),
    which is faster on GPUs with bf16 tensor cores; the loss and the
    scores are still accumulated in float32/float64. Off by default,
    since on CPUs without bf16 support it is slower.
n_jobs : int, default=None
    Worker threads on the CPU while this estimator fits and scores, each
    running torch with one intra-op thread (see the user guide's
    "Threads"). None uses the CPUs this process may run on, at most
    ``torch.get_num_threads()``; ``n`` >= 1 uses ``n`` workers, at most
    those CPUs; ``-1`` every CPU, ``-2`` all but one. The work is split
    the same way whatever the workers, so ``n_jobs`` changes the speed,
    never the results (on the CPU); the caller's
    ``torch.get_num_threads()`` is restored when a call returns.
random_state : int, RandomState instance or None, default=None
    Seeds weight initialisation, shuffling, denoising and data splits
    inside ``fit`` with generators of its own, so torch's global
    generator is never touched, nor numpy's with an int or a RandomState
    (None draws a seed from it, as scikit-learn does); with an int,
    concurrent fits in threads are reproducible. An int gives
    bit-identical results on CPU for the same training rows in the same
    order, with any ``n_jobs`` and any machine load.
verbose : int, default=0
    0 is silent; 1 shows a progress bar and the per-epoch loss table.
callbacks : list of skorch callbacks, default=None
    Extra :mod:`skorch.callbacks` added to the network (copied in fit).
    An ``LRScheduler`` needs ``lr_schedule="constant"``, and a callback
    that monitors a validation score (``EarlyStopping`` and ``Checkpoint``
    by default) a fit that holds rows out; fit refuses others, and names
    of the net's own callbacks (``"lr_schedule"``, ``"print_log"``, ...)."""

COMMON_ATTRIBUTES = """\
net_ : skorch.NeuralNet
    The net that trained the network (its ``history``);
    ``net_.module_`` maps standardised inputs to standardised
    reconstructions, and is the network of the fitted model
    (``scorer_`` of the detectors, ``model_`` of the transformer).
center_, scale_ : ndarray of shape (n_channels,) or (n_features,)
    Per-channel (images) or per-feature (rows) mean and standard
    deviation of the training data, with which the input is standardised
    (in float64) before the network sees it.
data_range_ : ndarray of shape (2, n_channels) or (2, n_features)
    Minimum and maximum of the training data, to warn when new data come
    in other units.
history_ : dict of list
    Per-epoch ``"train_loss"`` (and ``"valid_loss"``), in standardised
    units.
n_iter_ : int
    Number of epochs run.
device_ : str
    The device used.
n_features_in_ : int
    Number of values per sample (``C * H * W`` for images).
feature_names_in_ : ndarray of shape (`n_features_in_`,)
    Names of features seen during fit, when X has string column names."""

IMAGE_ATTRIBUTES = """\
image_shape_ : tuple of int
    ``(C, H, W)`` of the training images.
input_shape_ : tuple of int
    The shape of one sample of X as it was passed to ``fit`` (e.g.
    ``(64,)``, ``(8, 8)`` or ``(32, 32, 3)``): the form
    :func:`~skcae.to_onnx` gives its graph's input.
data_format_ : {"channels_first", "channels_last"} or None
    ``data_format`` as it was at ``fit``: how the fitted model reads
    arrays of images until the next fit (a ``data_format`` set since
    waits for it, as every parameter does)."""

OUTLIER = """\
score_type : {%(score_types)s}, default=%(default_score)s
    What makes a sample an outlier. "reconstruction": its mean squared
    reconstruction error (the classic autoencoder score, in the squared
    units of X). "latent": the mean distance of its code to its
    ``n_neighbors`` nearest training codes (PCA-whitened).%(density_score)s
    "hybrid": %(hybrid_terms)s. Each term is made scale-free by its
    distribution on the training data (``t = (log cost - median) / robust
    spread``, the kNN terms leaving each training sample out of its own
    neighbours; an image score's range term by the tail of its costs, as
    most normal images lie within every range), turned into the evidence
    ``-log P(N(0, 1) > t)`` and averaged with weights (Fisher's method of
    combining tests): a term far in its tail dominates, and terms a little
    high together add up. It finds outliers that reconstruct well but are
    rare (another kind of image among several kinds of normal, a colour
    shift) as well as the reverse; see the user guide's benchmarks.
n_neighbors : int, default=5
    Neighbours of the kNN terms of ``score_type="latent"`` and of the
    %(n_neighbors_terms)s (clipped to the number of
    training samples minus one).
contamination : "auto" or float in (0, 0.5], default="auto"
    The share of outliers expected among the training samples. A float
    keeps :class:`~sklearn.ensemble.IsolationForest`'s meaning and makes
    the model robust to that share: the most outlying ``contamination``
    of X, plus a margin of as much again%(trim_margin)s, and at least the
    5%% that "auto" leaves out (a small rate is never less robust than the
    default), are left out of the score's references and calibration (in two
    rounds, each ranking every sample by the references the last one
    kept), so that outliers in X do not vouch for outliers to come (the
    range term of an image score keeps them: trimming drops the images
    that hold a pixel's rare extremes, and new normal images beyond the
    narrowed range were flagged); where
    the rate names at least 250 outliers in X (``contamination *
    n_samples``; a search's splits of X may name fewer than X itself)
    the network is also trained a second time without them, as ranked by
    the first one's score, so that they do not shape it either (the fit
    then takes about twice as long; fewer outliers teach a network
    little, and a second network trained on fewer normal samples ranked
    worse), and the same share of the samples it trained on is left out
    of its references again;%(density_widening)s and ``offset_`` is the
    ``contamination`` quantile
    of ``score_samples(X)`` on all of X, so that about that fraction of
    X is flagged (the quantile's count, as for IsolationForest: one
    sample for a rate below ``1 / n_samples``, unless the lowest scores
    tie), and more of new normal data,
    which score lower than the data the network trained on. After a second
    training ``center_``, ``scale_``, ``history_`` and ``net_`` are
    that training's, and user callbacks and ``verbose`` run for both
    trainings (``verbose`` says when the second one starts, or why the
    first network is kept: too few outliers named, or too few samples
    left). "auto" leaves out the
    most outlying 5%% (one round), which keeps a few percent of outliers
    in X from shaping the ranking, but not the threshold (below), and
    aims at flagging 1%% of *new* normal data: ``offset_`` is
    the 1%% quantile of the scores of calibration samples, scored by a
    network that did not train on them (see ``calibration``). The rate
    holds on average for clean data like the training data; with tens
    of images it can only be resolved to about ``1 / n_samples`` (the
    threshold is then conservative), data that drift from the training
    data are flagged more, and outliers among the calibration samples
    (X's share of them) make it flag less: with 5%% / 10%% of other digits
    in MNIST training sets it flagged 16%% / 7%% of the outliers, the true
    rate 70%% / 73%% (``benchmarks/contamination.py``), so pass the share
    where X may hold outliers (under 1,000 calibration scores, those absurdly
    far below the others, such as a corrupt image's, are left out); from
    fewer than 10 calibration scores (a fit on a handful of samples) it
    is a guess, and fit warns. The threshold is
    ignored when ``threshold`` is set. To target a false-positive rate on
    other held-out normal data, call :meth:`set_threshold_from` after fit.
threshold : float, default=None
    Absolute cutoff on the outlier cost ``-score_samples``: samples whose
    cost exceeds it are outliers (``offset_ = -threshold``). When set, it
    takes precedence over ``contamination``'s threshold. ``score_type``,
    ``n_neighbors`` and ``threshold`` change scoring only: a grid over
    them with ``memory`` set does not retrain, and changing them after fit
    has no effect until the next fit. With a float ``contamination``,
    ``score_type`` and ``n_neighbors`` also rank the samples that a
    second network leaves out, so each of their values trains that
    network anew (where the rate names enough outliers for one).
calibration : {"auto", "holdout", "cross_fit"}, default="auto"
    Where the calibration samples of ``contamination="auto"`` (and
    ``validation_scores_``) come from. "holdout": one network, trained
    on X but a random 10%% of it (at least 100 samples, at most half),
    which it then scores. "cross_fit": the network trains on all of X,
    and two more networks, each trained on one half of X, score the
    half they left out (out-of-fold scores of every sample; three
    networks in all). "auto": "holdout" from 300 samples on, where 100
    held-out samples keep the 1%% rate honest (measured by
    ``benchmarks/flag_rate.py``), "cross_fit" below, where a held-out
    split would be too small to measure and too costly to lose. When
    ``validation_fraction`` is set, its rows are the calibration samples
    (one network; "cross_fit" then raises)."""

IMAGE_SCORE = """\
score_smoothing : int, default=1
    Odd side of a box filter applied to the per-pixel squared error
    before it is averaged into the reconstruction term (``score_type``'s mean
    squared error); 1 does not smooth.
score_top_fraction : float in (0, 1], default=1.0
    The reconstruction term is the mean of this fraction of the largest
    (smoothed) per-pixel squared errors. With the defaults it is the mean
    squared error, and ``anomaly_map(X)`` averages to
    ``-score_samples(X)`` for ``score_type="reconstruction"``. Smoothing and
    keeping the top pixels focus that score on a localised defect (e.g.
    ``score_smoothing=5, score_top_fraction=0.1``); they change scoring
    only, as ``score_type`` does. For ``score_type="hybrid"`` they act on
    its ``residual`` term, whose ratios are of blocks of pixels (at most
    16 blocks a side: pixels up to 16x16, 2x2 pixels at 28x28), so the
    window's side counts blocks."""

OUTLIER_ATTRIBUTES = """\
offset_ : float
    ``decision_function = score_samples - offset_``.
scorer_ : torch.nn.Module
    The whole fitted score as one module: the float64 standardisation,
    the network, each term of the score with what it was fitted on (the
    kNN reference codes and image statistics and their whitening) and
    its calibration, and their combination. ``scorer_(x)`` is
    ``-score_samples`` of data ``x`` (a float64 tensor of samples in the
    network's shape); :func:`~skcae.save` stores its state and
    :func:`~skcae.to_onnx` exports it.
validation_scores_ : ndarray of shape (n_calibration,)
    The scores of the calibration samples of ``contamination="auto"``
    (the held-out rows, or every training sample's out-of-fold score;
    see ``calibration``), each scored by a network that did not train on
    it; :meth:`set_threshold_from` uses them when
    called without data."""

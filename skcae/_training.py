"""Training: one network trained to reconstruct standardised data, by skorch.

skorch runs the loop; this module gives it a batch iterator that slices
arrays (instead of collating one sample at a time) in an order drawn from a
local :class:`torch.Generator`, a seeded train/validation split, and guards
that turn a diverging loss, a diverged final network or an interrupt into
an exception. :func:`train_network` is the one entry point; it is a plain
function of its arguments so that ``memory=`` can cache it.
"""

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping, ProgressBar
from skorch.dataset import unpack_data
from skorch.utils import to_tensor

from ._console import PlainPrintLog, shows_progress
from ._data import BLOCK_ROWS, block_rows, read_block
from ._network import autocast, build_module, corrupt
from ._scorer import Standardization
from ._threads import TRAIN_SHARDS, _Call, current_call, torch_threads, train_shards
from ._tuning import (
    AUTO_BATCH_MAX,
    AUTO_BATCH_MIN,
    AUTO_BATCH_STEPS,
    AUTO_BATCH_VALUES,
    AUTO_LR_BUDGET,
    AUTO_LR_MAX,
    AUTO_LR_MIN,
    AUTO_MAX_EPOCHS,
    AUTO_MIN_EPOCHS,
    AUTO_MIN_STEPS,
    ONE_CYCLE_WARMUP,
)

# The optimisers by name, with their keyword arguments. foreach=True (torch's
# default on CUDA only): on the CPU the same operations in the same order,
# so the same weights to the bit, with fewer Python calls per step (Adam's
# update was 11% of a profiled fit on 182 8x8 digits; `speed.py --scaling
# --n 100 1000 --kinds "8x8 gray" --n-score 1000` as a whole process took
# 0.98x the time of the per-tensor update, 0.96-1.00x over 5 pairs)
OPTIMIZERS = {
    "adam": (torch.optim.Adam, {"foreach": True}),
    "adamw": (torch.optim.AdamW, {"foreach": True}),
    "sgd": (torch.optim.SGD, {"momentum": 0.9, "foreach": True}),
    "rmsprop": (torch.optim.RMSprop, {"foreach": True}),
}
# Rows used to check the final network for divergence.
_CHECK_ROWS = 2048
# A final network whose reconstruction error on its training rows (inputs
# corrupted as in training) exceeds this many times the error of predicting
# their mean has diverged, even with a finite loss. The ratio stayed at or
# below 1.13 for the default conv and dense detectors (lr "auto" and up to
# 0.3, one epoch, noise, Cauchy and spiky data); a review measured up to
# 1.57 (tiny networks, Adam at lr=0.3, one-cycle) and 1.84 (the transformer,
# lr=0.3, constant rate). It was 3.5 for the conv detector at lr=1 (8x8
# digits), 46 at lr=0.3 with a constant rate, and 7.8-1e32 for fits whose
# loss blew up (a hostile probe).
DIVERGED_RATIO = 2.0


def auto_batch_size(n_samples, sample_values=1):
    """``batch_size="auto"``: about 16 steps per epoch, between 16 and 128,
    and at most ``AUTO_BATCH_VALUES`` values of ``sample_values`` each.

    At these sizes a step costs about as much for 8 images as for 16, so
    small sets (one digit of scikit-learn's 8x8 digits, ~125 images) take
    batches of 16 and ``lr="auto"`` a higher rate for their fewer steps;
    large sets get 128. Very large images get fewer (one of 3000x3000
    pixels), so that a batch's activations fit in memory.

    >>> auto_batch_size(125), auto_batch_size(60_000), auto_batch_size(60, 3000**2)
    (16, 128, 1)
    """
    steps = n_samples // AUTO_BATCH_STEPS
    size = int(min(AUTO_BATCH_MAX, max(AUTO_BATCH_MIN, steps)))
    return max(1, min(size, AUTO_BATCH_VALUES // max(1, int(sample_values))))


def auto_max_epochs(n_samples, batch_size):
    """``max_epochs="auto"``: at least 4 epochs and 160 optimiser steps,
    at most 40 epochs, for ``n_samples`` training rows in batches of
    ``batch_size``.

    Large sets (thousands of images) get 4 epochs; small ones get the
    epochs that make 160 steps (one digit of the 8x8 digits: 14-20).
    """
    steps_per_epoch = max(1, math.ceil(n_samples / batch_size))
    epochs = max(AUTO_MIN_EPOCHS, math.ceil(AUTO_MIN_STEPS / steps_per_epoch))
    return int(min(AUTO_MAX_EPOCHS, epochs))


def auto_lr(n_samples, batch_size, max_epochs):
    """``lr="auto"``: the rate for ``max_epochs`` epochs of ``n_samples``
    rows in batches of ``batch_size``.

    A fixed budget of 0.96 shared over the schedule's optimiser steps,
    between 3e-3 and 8e-3: 6e-3 for 160 steps (small sets), 5e-3-6e-3
    for 160-192 (one MNIST digit), 3e-3 from 320 steps on (large sets, or an
    explicit ``max_epochs`` of many epochs).
    """
    steps = max(1, math.ceil(n_samples / batch_size)) * int(max_epochs)
    return float(min(AUTO_LR_MAX, max(AUTO_LR_MIN, AUTO_LR_BUDGET / steps)))


def resolve_device(device):
    """The torch device string for the ``device`` parameter, or a clear error.

    ``"auto"`` is ``"cuda"`` when a GPU is available, else ``"cpu"``.
    """
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ValueError(
            f"Got device={device!r}, which torch does not know ({exc}); "
            "expected 'auto', 'cpu', 'cuda' or 'cuda:<index>'."
        ) from exc
    if parsed.type == "meta":
        raise ValueError(
            f"Got device={device!r}, but the meta device holds no data; "
            "expected 'auto', 'cpu', 'cuda' or 'cuda:<index>'."
        )
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"Got device={device!r}, but CUDA is not available on this "
                "machine (torch.cuda.is_available() is False); use "
                "device='cpu' or 'auto'."
            )
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ValueError(
                f"Got device={device!r}, but this machine has "
                f"{torch.cuda.device_count()} CUDA device(s)."
            )
    elif parsed.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValueError(f"Got device={device!r}, but MPS is not available.")
    elif parsed.type != "cpu":
        raise ValueError(
            f"Got device={device!r}; expected 'auto', 'cpu', 'cuda', "
            "'cuda:<index>' or 'mps'."
        )
    return str(parsed)


def make_generator(seed, device):
    """A :class:`torch.Generator` on ``device`` seeded with ``seed``."""
    kind = torch.device(device).type
    generator = torch.Generator(device=kind if kind != "cpu" else "cpu")
    generator.manual_seed(int(seed))
    return generator


@dataclass(frozen=True)
class TrainingSpec:
    """Everything that decides the trained network, as plain values.

    It is the cache key of ``memory=`` together with the data, so it holds
    only what changes the network, never a scoring or threshold parameter.
    """

    module_class: type
    module_kwargs: tuple  # sorted (name, value) pairs
    optimizer: object
    lr: float
    weight_decay: float
    max_epochs: int
    batch_size: int
    lr_schedule: str
    validation_fraction: object
    n_iter_no_change: object
    device: str
    mixed_precision: bool
    callbacks: tuple
    seed: int
    #: Images given as (H, W, C) (``data_format="channels_last"``): how
    #: callbacks read the image sets they were given (ReconstructionMonitor).
    channels_last: bool = False


class StandardizedRows(torch.utils.data.Dataset):
    """Rows of the training data (a subset), standardised batch by batch.

    ``rows`` is any array whose rows can be sliced (in memory, memmap or
    lazy), clipped to the training data's robust range
    (:func:`~skcae._data.fit_statistics`); only the rows in ``indices``
    (all when None) belong to the dataset, and they are read in sorted
    order batch by batch, so an out-of-core array is never loaded whole.
    ``standardization`` is the :class:`~skcae._scorer.Standardization` of
    the training data. ``channels_last`` tells callbacks that the user's
    images are (H, W, C) (``rows`` are (C, H, W) whatever the user's form).
    """

    def __init__(self, rows, standardization, indices=None, channels_last=False):
        self.rows = rows
        self.standardization = standardization
        self.indices = indices
        self.channels_last = channels_last

    def __len__(self):
        return len(self.rows) if self.indices is None else len(self.indices)

    def subset(self, positions):
        """The dataset of the rows at ``positions`` (of this dataset)."""
        positions = np.asarray(positions)
        indices = positions if self.indices is None else self.indices[positions]
        return StandardizedRows(
            self.rows, self.standardization, np.sort(indices), self.channels_last
        )

    def batch(self, positions):
        """The rows at ``positions`` (a slice or sorted int array), a tensor."""
        if self.indices is not None:
            positions = np.sort(self.indices[positions])
        block = read_block(self.rows, positions)
        block = torch.from_numpy(block if block.flags.writeable else block.copy())
        with torch.no_grad():
            return self.standardization(self.standardization.clip(block))

    def __getitem__(self, i):
        x = self.batch(slice(i, i + 1))[0]
        return x, x


class BatchIterator:
    """Yield ``(X, X)`` batches by slicing, as skorch's ``iterator_train``.

    With ``shuffle`` the order of each pass is drawn from ``generator``.
    """

    def __init__(
        self, dataset, batch_size=64, shuffle=False, pin_memory=False, generator=None
    ):
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.pin_memory = pin_memory
        self.generator = generator

    def __len__(self):
        return math.ceil(len(self.dataset) / self.batch_size)

    def __iter__(self):
        n, bs = len(self.dataset), self.batch_size
        order = None
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).numpy()
        for start in range(0, n, bs):
            if order is None:
                xb = self.dataset.batch(slice(start, start + bs))
            else:
                xb = self.dataset.batch(np.sort(order[start : start + bs]))
            if self.pin_memory:
                xb = xb.pin_memory()
            yield xb, xb


class ValidationSplit:
    """Hold out a random ``fraction`` of the rows for validation."""

    def __init__(self, fraction, seed):
        self.fraction = fraction
        self.seed = seed

    def __call__(self, dataset, y=None, **fit_params):
        train, valid = self.indices(len(dataset))
        return dataset.subset(train), dataset.subset(valid)

    def indices(self, n):
        """The sorted ``(train, valid)`` positions of a dataset of ``n`` rows."""
        n_valid = int(round(n * self.fraction))
        if n_valid < 1 or n_valid >= n:
            raise ValueError(
                f"validation_fraction={self.fraction} leaves {n_valid} of "
                f"n_samples={n} for validation; expected at least 1 validation "
                "and 1 training sample. Pass more data or "
                "validation_fraction=None."
            )
        perm = np.random.RandomState(self.seed).permutation(n)
        return np.sort(perm[n_valid:]), np.sort(perm[:n_valid])


class DivergenceGuard(Callback):
    """Stop training with a clear error as soon as the loss is NaN or inf."""

    def __init__(self, lr=None):
        self.lr = lr

    def on_batch_end(self, net, batch=None, training=None, loss=None, **kwargs):
        if loss is not None and not torch.isfinite(loss):
            epoch = len(net.history)
            raise FloatingPointError(
                f"The training loss became {loss.item()} in epoch {epoch}: "
                f"training diverged with lr={self.lr}. Expected a finite loss; "
                "try a lower lr (e.g. ten times lower) or check X for extreme "
                f"values.{_settings_hint(net)}"
            )


class RecordThreads(Callback):
    """Record the threads the fit computes in (``"torch_threads"`` in the
    history): the workers the estimator's ``n_jobs`` gave the whole fit,
    each running torch with one intra-op thread (:mod:`skcae._threads`)."""

    def on_epoch_begin(self, net, **kwargs):
        call = current_call()
        net.history.record(
            "torch_threads", call.n_workers if call else torch.get_num_threads()
        )


class OneCycle(Callback):
    """The one-cycle learning-rate schedule, set before every batch.

    Over the planned steps (``max_epochs`` epochs of the net's training
    set) the rate rises from ``lr / 25`` to ``lr`` over the first quarter
    and then falls to ``lr / 250000``, both along half a cosine; Adam's
    beta1 (SGD's momentum) goes from 0.95 to 0.85 and back (the defaults of
    :class:`torch.optim.lr_scheduler.OneCycleLR`, written out so that runs
    of a handful of steps work too). A run that goes on past the planned
    steps (``partial_fit`` again) keeps the last rate.
    """

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        if getattr(self, "total_", None) is not None:
            return  # a later partial_fit: the schedule has ended
        n_train = len(X)
        if net.train_split is not None:
            n_train -= int(round(n_train * net.train_split.fraction))
        self.total_ = net.max_epochs * max(1, math.ceil(n_train / net.batch_size))
        self.step_ = 0
        self.peak_ = float(net.lr)
        self._apply(net)

    def on_batch_end(self, net, training=False, **kwargs):
        if training and self.step_ + 1 < self.total_:
            self.step_ += 1
            self._apply(net)

    def _apply(self, net):
        lr, momentum = one_cycle(self.step_, self.total_, self.peak_)
        for group in net.optimizer_.param_groups:
            group["lr"] = lr
            if "betas" in group:
                group["betas"] = (momentum, *group["betas"][1:])
            elif group.get("momentum", 0) > 0:
                group["momentum"] = momentum


def one_cycle(step, total, peak):
    """The learning rate and momentum of :class:`OneCycle` at ``step``."""
    warmup = max(1.0, ONE_CYCLE_WARMUP * total)
    if step < warmup:
        pct = step / warmup
        return _cosine(peak / 25, peak, pct), _cosine(0.95, 0.85, pct)
    pct = (step - warmup) / max(total - 1 - warmup, 1.0)
    return _cosine(peak, peak / 25 / 1e4, pct), _cosine(0.85, 0.95, pct)


def _cosine(start, end, pct):
    """From ``start`` (pct=0) to ``end`` (pct=1) along half a cosine."""
    return end + (start - end) / 2.0 * (1.0 + math.cos(math.pi * min(pct, 1.0)))


class _StopTraining(Exception):
    """skorch's EarlyStopping asked to stop (it signals with KeyboardInterrupt)."""


def _silent(*args, **kwargs):
    """EarlyStopping's sink at verbose=0 (module-level, so the net pickles)."""


class AutoencoderNet(NeuralNet):
    """skorch's NeuralNet for skcae: seeded, interruptible, optionally bf16.

    * The module is built on the meta device and initialised from a local
      :class:`torch.Generator` seeded with ``seed``, which also draws the
      batch order and the denoising corruption: nothing touches torch's
      global generator, so concurrent fits are reproducible.
    * ``partial_fit`` lets ``KeyboardInterrupt`` through (skorch's own
      swallows it and returns a half-trained net); only the stop signal of
      an :class:`~skorch.callbacks.EarlyStopping` callback, which skorch
      sends as a KeyboardInterrupt, ends training quietly.
    * With ``mixed_precision`` the forward pass runs under bf16 autocast;
      the loss is computed in float32.
    * On the CPU each training batch of enough values is split into
      ``TRAIN_SHARDS`` shards (:func:`~skcae._threads.train_shards`) whose
      gradients the workers of the call compute (one intra-op thread
      each) and the calling thread sums in shard order: the network does
      not depend on ``n_jobs`` (see :meth:`train_step_single`).
    """

    def __init__(self, module, criterion, *, seed=0, mixed_precision=False, **kw):
        super().__init__(module, criterion, **kw)
        self.seed = seed
        self.mixed_precision = mixed_precision

    def initialize_module(self):
        self.generator_ = make_generator(self.seed, self.device)
        cpu_generator = make_generator(self.seed, "cpu")
        self.module_ = build_module(
            self.module,
            self.get_params_for("module"),
            generator=cpu_generator,
            device=self.device,
        )
        return self

    def get_iterator(self, dataset, training=False):
        iterator = super().get_iterator(dataset, training=training)
        if training:
            iterator.generator = make_generator(self.seed + 1, "cpu")
        return iterator

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        if not self.initialized_:
            self.initialize()
        self.module_.generator = self.generator_
        try:
            # joins the estimator's call (its n_jobs); a net fitted on its own
            # makes a call of its own
            with torch_threads(None):
                self.notify("on_train_begin", X=X, y=y)
                try:
                    self.fit_loop(X, y, _routing_method="partial_fit", **fit_params)
                except _StopTraining:
                    pass
                self.notify("on_train_end", X=X, y=y)
        finally:
            self.module_.generator = None
        return self

    def notify(self, method_name, **cb_kwargs):
        try:
            super().notify(method_name, **cb_kwargs)
        except KeyboardInterrupt:
            if method_name == "on_epoch_end" and any(
                isinstance(cb, EarlyStopping) and cb.misses_ == cb.patience
                for _, cb in self.callbacks_
            ):
                raise _StopTraining from None
            raise

    def train_step_single(self, batch, **fit_params):
        """Gradients of one batch, summed over shards in a fixed order.

        On the CPU the batches of a net whose full batch holds enough values
        are split into ``TRAIN_SHARDS`` shards
        (:func:`~skcae._threads.train_shards`; empty ones skipped);
        each shard's loss is its summed squared error over the whole
        batch's number of values, so the shard losses add up to the
        batch's mean squared error. The call's workers compute each
        shard's gradients with :func:`torch.autograd.grad`, and the calling
        thread adds them in shard order into ``.grad``: the same
        floating-point operations whatever the number of workers. The
        denoising draws of shard ``i`` come from a generator seeded with
        the ``i``-th of ``TRAIN_SHARDS`` seeds drawn, in order, from the
        module's generator. Off the CPU it is skorch's single pass.
        """
        module = self.module_
        Xi, yi = unpack_data(batch)
        if (
            fit_params
            or torch.device(self.device).type != "cpu"
            or not isinstance(Xi, torch.Tensor)
        ):
            return super().train_step_single(batch, **fit_params)
        self._set_training(True)
        Xi = to_tensor(Xi, device=self.device)
        yi = Xi if yi is None else to_tensor(yi, device=self.device)
        # decided by the configured batch size, so that an epoch's short last
        # batch is split as its full ones are
        batch = self.batch_size
        full = batch if isinstance(batch, int) and batch > 0 else len(Xi)
        n_shards = train_shards(max(full, len(Xi)) * Xi[0].numel())
        shards = [
            (x, y)
            for x, y in zip(Xi.tensor_split(n_shards), yi.tensor_split(n_shards))
            if len(x)
        ]
        modules = [module] * len(shards)
        generator = getattr(module, "generator", None)
        if isinstance(generator, torch.Generator):
            seeds = torch.randint(
                0, 2**62, (TRAIN_SHARDS,), generator=generator, device=generator.device
            ).tolist()
            modules = [copy.copy(module) for _ in shards]  # sharing parameters
            for shard_module, seed in zip(modules, seeds):
                shard_module.generator = make_generator(seed, generator.device)
        params = [p for p in module.parameters() if p.requires_grad]
        count = yi.numel()

        def shard_step(i):
            (x, y), shard_module = shards[i], modules[i]
            with autocast(self.device, self.mixed_precision):
                y_pred = shard_module(x)
            loss = (y_pred.float() - y.float()).square().sum() / count
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            return loss.detach(), y_pred.detach(), grads

        call = current_call() or _Call(1)
        results = call.map(shard_step, range(len(shards)))
        loss = results[0][0]
        for shard_loss, _, _ in results[1:]:
            loss = loss + shard_loss
        for j, p in enumerate(params):
            grad = None
            for _, _, grads in results:
                if grads[j] is not None:
                    grad = grads[j] if grad is None else grad + grads[j]
            if grad is None:
                continue
            if p.grad is None:
                p.grad = grad
            else:
                p.grad.add_(grad)
        y_pred = torch.cat([y_pred for _, y_pred, _ in results])
        return {"loss": loss, "y_pred": y_pred}

    def infer(self, x, **fit_params):
        with autocast(self.device, self.mixed_precision):
            return super().infer(x, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return super().get_loss(y_pred.float(), y_true, X=X, training=training)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("generator_", None)  # only needed while training
        return state


def _valid_batch_size(spec):
    """Rows per validation batch: a block of the samples' size
    (:func:`~skcae._data.block_rows`, 256 for images up to 128x128
    values), at least the training batch. Validation computes no gradient,
    so a larger batch only saves per-batch overhead (in batches of 8, as on
    300 MNIST images, validation was a tenth of a profiled fit; whole fits
    changed within noise)."""
    kwargs = dict(spec.module_kwargs)
    sample_shape = kwargs.get("input_shape") or (kwargs.get("n_features", 1),)
    return max(spec.batch_size, block_rows(sample_shape))


#: skorch's default callbacks, by name (the net's own, with own_callbacks').
SKORCH_CALLBACK_NAMES = ("epoch_timer", "train_loss", "valid_loss", "print_log")


def own_callbacks(spec, verbose=0):
    """The callbacks the net of ``spec`` adds to skorch's defaults, as
    ``(name, callback)`` pairs; a user's callback may not take their names
    (nor :data:`SKORCH_CALLBACK_NAMES`)."""
    callbacks = [
        ("divergence_guard", DivergenceGuard(lr=spec.lr)),
        ("record_threads", RecordThreads()),
    ]
    if spec.lr_schedule == "onecycle":
        callbacks.append(("lr_schedule", OneCycle()))
    if spec.n_iter_no_change is not None:
        monitor = "valid_loss" if spec.validation_fraction else "train_loss"
        callbacks.append(
            (
                "early_stopping",
                EarlyStopping(
                    monitor=monitor,
                    patience=spec.n_iter_no_change,
                    load_best=True,
                    sink=print if verbose else _silent,
                ),
            )
        )
    if verbose and shows_progress():
        callbacks.append(("progress_bar", ProgressBar()))
    return callbacks


def build_net(spec, *, verbose=0):
    """The (uninitialised) :class:`AutoencoderNet` of a :class:`TrainingSpec`
    (validation batches: :func:`_valid_batch_size`)."""
    optimizer, optimizer_kwargs = (
        OPTIMIZERS[spec.optimizer]
        if isinstance(spec.optimizer, str)
        else (spec.optimizer, {})
    )
    callbacks = own_callbacks(spec, verbose) + list(spec.callbacks)
    on_cuda = torch.device(spec.device).type == "cuda"
    return AutoencoderNet(
        module=spec.module_class,
        criterion=torch.nn.MSELoss,
        seed=spec.seed,
        mixed_precision=spec.mixed_precision,
        **{f"module__{k}": v for k, v in spec.module_kwargs},
        optimizer=optimizer,
        optimizer__weight_decay=spec.weight_decay,
        **{f"optimizer__{k}": v for k, v in optimizer_kwargs.items()},
        lr=spec.lr,
        max_epochs=spec.max_epochs,
        batch_size=spec.batch_size,
        iterator_train=BatchIterator,
        iterator_train__shuffle=True,
        iterator_train__pin_memory=on_cuda,
        iterator_valid=BatchIterator,
        iterator_valid__pin_memory=on_cuda,
        iterator_valid__batch_size=_valid_batch_size(spec),
        train_split=(
            ValidationSplit(spec.validation_fraction, spec.seed)
            if spec.validation_fraction
            else None
        ),
        callbacks=callbacks,
        callbacks__print_log=PlainPrintLog(),  # colours on a terminal only
        device=spec.device,
        verbose=int(verbose),
    )


def _check_final_network(net, dataset, lr):
    """Raise if the trained network diverged after its last recorded loss.

    The mean squared (standardised) reconstruction error of the final
    weights on up to ``_CHECK_ROWS`` training rows must be finite and at
    most ``max(10 x the last epoch's training loss, 2 x the error of
    predicting the mean)``; the loss is recorded before each update, so a
    last step that blows the weights up is only seen here. It must also be
    at most ``DIVERGED_RATIO`` times the error of predicting the mean (at
    least ``DIVERGED_RATIO`` itself: the data are standardised, and
    constant channels are predicted exactly by their mean): a loss that
    blew up and stayed finite (1e32 after lr=1000) has no NaN to catch.
    The inputs are corrupted as in training (``noise_std``,
    ``mask_fraction``; a fixed seed): a network trained on 80% masked
    inputs reconstructs clean ones 2.6 times worse than their mean would
    (it never saw them), and it has not diverged.
    """
    n = len(dataset)
    positions = np.unique(np.linspace(0, n - 1, min(n, _CHECK_ROWS)).astype(int))
    module = net.module_
    module.eval()
    noise = float(getattr(module, "noise_std", 0.0) or 0.0)
    mask = float(getattr(module, "mask_fraction", 0.0) or 0.0)
    generator = None
    if noise or mask:
        generator = torch.Generator(device=net.device).manual_seed(0)
    error = trivial = 0.0
    with torch.inference_mode():
        for start in range(0, len(positions), BLOCK_ROWS):
            x = dataset.batch(positions[start : start + BLOCK_ROWS]).to(net.device)
            seen = corrupt(x, noise, mask, generator) if generator else x
            error += float((module(seen).float() - x).square().sum())
            trivial += float(x.square().sum())
    count = len(positions) * int(np.prod(dataset.rows.shape[1:]))
    error, trivial = error / count, trivial / count
    last = float(net.history[-1, "train_loss"])
    if error > DIVERGED_RATIO * max(trivial, 1.0):
        raise FloatingPointError(
            f"Training diverged: the final network's reconstruction error "
            f"({error:.4g}, standardised units) is more than {DIVERGED_RATIO:g} "
            f"times the error of predicting the mean ({trivial:.4g}), with "
            f"lr={lr} (the training loss, recorded before each update, went "
            f"from {float(net.history[0, 'train_loss']):.4g} to {last:.4g}: the "
            "updates after it made the network worse). Expected "
            "a network that reconstructs its training data at least as well as "
            f"their mean; try a lower lr (e.g. ten times lower){_adam_hint(net)}."
            f"{_settings_hint(net)}"
        )
    if not math.isfinite(error) or error > max(10 * last, 2 * trivial, 1e-12):
        raise FloatingPointError(
            f"Training diverged: the final network's reconstruction error "
            f"({error:.4g}, standardised units) is far above the last epoch's "
            f"loss ({last:.4g}) and the error of predicting the mean "
            f"({trivial:.4g}), with lr={lr}. Expected a network that "
            "reconstructs its training data; try a lower lr (e.g. ten times "
            f"lower){_adam_hint(net)}.{_settings_hint(net)}"
        )


def _settings_hint(net):
    """The settings besides lr that can make a training diverge, where set
    (the messages blamed lr alone: weight_decay=1e6 with AdamW, or
    noise_std=100, diverged at the default lr; a hostile probe)."""
    optimizer = getattr(net, "optimizer_", None)
    groups = getattr(optimizer, "param_groups", ())
    decay = max((float(g.get("weight_decay") or 0.0) for g in groups), default=0.0)
    module = getattr(net, "module_", None)
    settings = {
        "weight_decay": decay,
        "noise_std": float(getattr(module, "noise_std", 0.0) or 0.0),
        "mask_fraction": float(getattr(module, "mask_fraction", 0.0) or 0.0),
    }
    parts = [f"{name}={value:g}" for name, value in settings.items() if value]
    if getattr(net, "mixed_precision", False):
        parts.append("mixed_precision=True")
    if not parts:
        return ""
    return (
        f" It also trained with {', '.join(parts)}: a smaller value there (or "
        "the default) may be the fix."
    )


def _adam_hint(net):
    """The hint to try Adam, unless the net trains with Adam already."""
    optimizer = getattr(net, "optimizer_", None)
    if isinstance(optimizer, torch.optim.Adam) or net.optimizer is torch.optim.Adam:
        return ""
    return " or optimizer='adam'"


def train_network(spec, rows, statistics, indices=None, *, verbose=0):
    """Train a new network on ``rows`` (the ``indices`` subset) and return it.

    ``statistics`` are the training data's ``(center, scale, low, high)``
    (:func:`~skcae._data.fit_statistics`), which standardise each batch. A
    plain function of its arguments: with ``memory=`` it is cached by
    :class:`joblib.Memory` with ``verbose`` ignored, so a network is reused
    exactly when training again would give the same one. An exception
    (divergence, ``KeyboardInterrupt``) leaves nothing cached. The caller
    sets torch's threads (the estimators: ``n_jobs``, once per fit).

    Returns
    -------
    net : AutoencoderNet
        The trained net; ``net.module_`` maps standardised inputs to
        standardised reconstructions.
    """
    dataset = StandardizedRows(
        rows, Standardization.from_statistics(statistics), indices, spec.channels_last
    )
    net = build_net(spec, verbose=verbose)
    with torch.inference_mode(False), torch.enable_grad():
        net.initialize()
        net.partial_fit(dataset, None)
        _check_final_network(net, dataset, spec.lr)
    return net

"""Rebuilding a fitted estimator from a checked file.

:func:`build_estimator` makes the estimator of the saved parameters,
validated as ``fit`` validates them.
:func:`model_specs` builds the model the saved parameters describe, empty,
on torch's meta device, and gives the names, dtypes and shapes its saved
state must have; only once the file's header matches them does
:func:`materialize` allocate the model and fill it, and :func:`restore_net`
wrap its network in the skorch net ``net_``. :mod:`skcae._persistence`
runs them in that order.
"""

from ._safe_files import check_history, decode_entry, state_specs
from ._scorer import build_model, reference_buffers
from ._training import build_net

_MAX_LAYERS = 64  # entries of channels / hidden_layer_sizes


def build_estimator(cls, params):
    """``cls(**params)`` with every parameter given and valid."""
    names = set(cls().get_params(deep=False))  # a default instance stores no state
    if set(params) != names:
        raise ValueError(
            f"the parameters of {cls.__name__} are {sorted(names)}, but the file "
            f"has unknown parameters {sorted(set(params) - names)[:5]} and "
            f"lacks {sorted(names - set(params))[:5]}"
        )
    if params["callbacks"] is not None:
        raise ValueError("expected callbacks=None (callbacks are not saved)")
    try:
        decoded = {k: decode_entry("parameter", k, v) for k, v in params.items()}
        estimator = cls(**decoded)
        estimator._validate_params()
        estimator._check_params()
    except Exception as exc:
        raise ValueError(f"invalid parameters for {cls.__name__}: {exc}") from exc
    return estimator


def model_specs(estimator, fitted, max_parameters):
    """The empty model the parameters and fitted shapes describe (on the meta
    device), the expected ``{name: (dtype, shape)}`` of its saved state and
    the groups of reference buffers that share their rows."""
    config = estimator._model_config(fitted)
    for key, value in config.module_kwargs:
        if isinstance(value, (tuple, list)) and len(value) > _MAX_LAYERS:
            raise ValueError(f"{key} has {len(value)} entries, more than {_MAX_LAYERS}")
    try:
        model = build_model(config, device="meta")
    except Exception as exc:
        raise ValueError(f"the parameters describe no valid network ({exc})") from exc
    rows = reference_buffers(model)
    specs = state_specs(model, max_parameters, rows)
    groups = {}
    for name in rows:
        groups.setdefault(name.rsplit(".", 1)[0], []).append(f"model.{name}")
    expected = {f"model.{k}": spec for k, spec in specs.items()}
    return model, expected, list(groups.values())


def materialize(model, tensors, device):
    """``model`` (empty, on the meta device) allocated on ``device`` and
    holding ``tensors``: its reference buffers take the saved ones, every
    other tensor is copied into place (keeping the network's memory format)."""
    model = model.to_empty(device=device)
    for name in reference_buffers(model):
        owner, _, buffer = name.rpartition(".")
        setattr(model.get_submodule(owner), buffer, tensors[name].to(device))
    model.load_state_dict(tensors, strict=True)
    return model.eval()


def restore_net(estimator, fitted, model, history):
    """The skorch net of a loaded estimator, holding the loaded network."""
    from skorch.history import History

    history = check_history(history)
    kwargs = estimator._module_kwargs(fitted)
    # the "auto" batch size, epochs and lr of the rows it was trained on
    n_rows = _trained_rows(history) or 2
    spec = estimator._training_spec(n_rows, 0, fitted["device_"], None, kwargs)
    net = build_net(spec, verbose=0)
    net.initialize()
    net.module_ = model.network
    if history is not None:
        net.history_ = History(history)
    return net


def _trained_rows(history):
    """The rows the network was trained on, from the first epoch's batch
    sizes in a saved ``history``, or None where it has none (a history
    saved without its per-batch records)."""
    if not history:
        return None
    sizes = [b.get("train_batch_size") for b in history[0].get("batches", [])]
    sizes = [s for s in sizes if s is not None]
    if not sizes or not all(
        isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes
    ):
        return None
    return sum(sizes)

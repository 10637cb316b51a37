"""Write the small intersphinx inventories that let the docs build offline.

Sphinx's intersphinx extension normally downloads each project's
``objects.inv`` at build time. The skcae docs must build without network
access, so ``docs/conf.py`` maps every project to a local file in this folder
instead, while links still point to the project's real documentation::

    intersphinx_mapping = {"sklearn": ("https://scikit-learn.org/stable/",
                                       "_intersphinx/sklearn.inv"), ...}

The files hold only the objects the skcae docs and examples refer to. They
are generated from the table below (name, Sphinx domain:role, address of the
object's page and anchor relative to the project's base URL) with sphobjinv.
Each address was taken from the project's published documentation.

Usage, from the repository root (after ``pip install sphobjinv``)::

    python docs/_intersphinx/make_inventories.py          # write *.inv (offline)
    python docs/_intersphinx/make_inventories.py --check  # needs internet
    python docs/_intersphinx/make_inventories.py --full   # needs internet

``--check`` downloads each project's ``objects.inv`` and lists the rows of the
table whose name is missing upstream or whose address differs, so the table
can be corrected; it writes nothing. ``--full`` instead writes the complete
upstream inventories here (larger files, every object of every project).

To link a new name: add a row, run the script, commit the ``.inv`` files.
"""

import argparse
import sys
from pathlib import Path

import sphobjinv as soi

HERE = Path(__file__).resolve().parent

# project key in intersphinx_mapping -> (project name, base URL, rows)
# A row is (name, "domain:role", uri); in uri, every "$" stands for the name
# (it is expanded here: Sphinx itself only expands a trailing "$").
INVENTORIES = {
    "python": (
        "Python",
        "https://docs.python.org/3/",
        [
            ("pickle", "py:module", "library/pickle.html#module-pickle"),
            ("pickle.dump", "py:function", "library/pickle.html#$"),
            ("pickle.load", "py:function", "library/pickle.html#$"),
            ("os.PathLike", "py:class", "library/os.html#$"),
            ("pathlib.Path", "py:class", "library/pathlib.html#$"),
            ("tempfile", "py:module", "library/tempfile.html#module-tempfile"),
            ("object", "py:class", "library/functions.html#$"),
            ("int", "py:class", "library/functions.html#$"),
            ("float", "py:class", "library/functions.html#$"),
            ("bool", "py:class", "library/functions.html#$"),
            ("str", "py:class", "library/stdtypes.html#$"),
            ("tuple", "py:class", "library/stdtypes.html#$"),
            ("list", "py:class", "library/stdtypes.html#$"),
            ("dict", "py:class", "library/stdtypes.html#$"),
            ("None", "py:data", "library/constants.html#$"),
            ("True", "py:data", "library/constants.html#$"),
            ("False", "py:data", "library/constants.html#$"),
            ("ValueError", "py:exception", "library/exceptions.html#$"),
            ("TypeError", "py:exception", "library/exceptions.html#$"),
            ("ImportError", "py:exception", "library/exceptions.html#$"),
            ("FileNotFoundError", "py:exception", "library/exceptions.html#$"),
            ("FloatingPointError", "py:exception", "library/exceptions.html#$"),
        ],
    ),
    "numpy": (
        "NumPy",
        "https://numpy.org/doc/stable/",
        [
            ("numpy", "py:module", "reference/index.html#module-numpy"),
            ("numpy.ndarray", "py:class", "reference/generated/$.html#$"),
            ("numpy.memmap", "py:class", "reference/generated/$.html#$"),
            ("numpy.float32", "py:class", "reference/arrays.scalars.html#$"),
            ("numpy.float64", "py:class", "reference/arrays.scalars.html#$"),
            ("numpy.arange", "py:function", "reference/generated/$.html#$"),
            ("numpy.mean", "py:function", "reference/generated/$.html#$"),
            ("numpy.ones", "py:function", "reference/generated/$.html#$"),
            ("numpy.zeros", "py:function", "reference/generated/$.html#$"),
            ("numpy.r_", "py:data", "reference/generated/$.html#$"),
            ("numpy.unravel_index", "py:function", "reference/generated/$.html#$"),
            ("numpy.load", "py:function", "reference/generated/$.html#$"),
            ("numpy.save", "py:function", "reference/generated/$.html#$"),
            ("numpy.concatenate", "py:function", "reference/generated/$.html#$"),
            ("numpy.percentile", "py:function", "reference/generated/$.html#$"),
            ("numpy.histogram_bin_edges", "py:function",
             "reference/generated/$.html#$"),
            ("numpy.lib.format.open_memmap", "py:function",
             "reference/generated/$.html#$"),
            ("numpy.random.RandomState", "py:class",
             "reference/random/legacy.html#$"),
            ("numpy.random.RandomState.choice", "py:method",
             "reference/random/generated/$.html#$"),
            ("numpy.random.RandomState.normal", "py:method",
             "reference/random/generated/$.html#$"),
            ("numpy.random.RandomState.rand", "py:method",
             "reference/random/generated/$.html#$"),
            ("numpy.testing.assert_allclose", "py:function",
             "reference/generated/$.html#$"),
            ("numpy.testing.assert_array_equal", "py:function",
             "reference/generated/$.html#$"),
        ],
    ),
    "sklearn": (
        "scikit-learn",
        "https://scikit-learn.org/stable/",
        [
            ("sklearn.base.BaseEstimator", "py:class",
             "modules/generated/$.html#$"),
            ("sklearn.base.OutlierMixin", "py:class", "modules/generated/$.html#$"),
            ("sklearn.base.TransformerMixin", "py:class",
             "modules/generated/$.html#$"),
            ("sklearn.base.clone", "py:function", "modules/generated/$.html#$"),
            ("sklearn.datasets.load_digits", "py:function",
             "modules/generated/$.html#$"),
            ("sklearn.ensemble.IsolationForest", "py:class",
             "modules/generated/$.html#$"),
            ("sklearn.ensemble.IsolationForest.decision_function", "py:method",
             "modules/generated/sklearn.ensemble.IsolationForest.html#$"),
            ("sklearn.ensemble.IsolationForest.score_samples", "py:method",
             "modules/generated/sklearn.ensemble.IsolationForest.html#$"),
            ("sklearn.ensemble.IsolationForest.predict", "py:method",
             "modules/generated/sklearn.ensemble.IsolationForest.html#$"),
            ("sklearn.metrics.balanced_accuracy_score", "py:function",
             "modules/generated/$.html#$"),
            ("sklearn.metrics.roc_auc_score", "py:function",
             "modules/generated/$.html#$"),
            ("sklearn.model_selection.GridSearchCV", "py:class",
             "modules/generated/$.html#$"),
            ("sklearn.model_selection.StratifiedKFold", "py:class",
             "modules/generated/$.html#$"),
            ("sklearn.model_selection.cross_val_score", "py:function",
             "modules/generated/$.html#$"),
            ("sklearn.model_selection.train_test_split", "py:function",
             "modules/generated/$.html#$"),
            ("sklearn.neighbors.LocalOutlierFactor", "py:class",
             "modules/generated/$.html#$"),
            ("sklearn.pipeline.Pipeline", "py:class", "modules/generated/$.html#$"),
            ("sklearn.pipeline.make_pipeline", "py:function",
             "modules/generated/$.html#$"),
            ("sklearn.preprocessing.MinMaxScaler", "py:class",
             "modules/generated/$.html#$"),
            ("sklearn.preprocessing.StandardScaler", "py:class",
             "modules/generated/$.html#$"),
            ("sklearn.svm.OneClassSVM", "py:class", "modules/generated/$.html#$"),
            ("sklearn.utils.Bunch", "py:class", "modules/generated/$.html#$"),
            ("sklearn.utils.estimator_checks.parametrize_with_checks",
             "py:function", "modules/generated/$.html#$"),
            ("sklearn.decomposition.PCA", "py:class", "modules/generated/$.html#$"),
            ("sklearn.decomposition.PCA.transform", "py:method",
             "modules/generated/sklearn.decomposition.PCA.html#$"),
            ("sklearn.decomposition.PCA.inverse_transform", "py:method",
             "modules/generated/sklearn.decomposition.PCA.html#$"),
            ("sklearn.utils.metadata_routing.MetadataRequest", "py:class",
             "modules/generated/$.html#$"),
            ("sklearn.exceptions.NotFittedError", "py:exception",
             "modules/generated/$.html#$"),
            ("sklearn.set_config", "py:function", "modules/generated/$.html#$"),
            # User-guide sections (std:label), linked as :ref:`sklearn:...`;
            # inherited scikit-learn docstrings refer to some of them.
            ("outlier_detection", "std:label",
             "modules/outlier_detection.html#outlier-detection"),
            ("grid_search", "std:label", "modules/grid_search.html#grid-search"),
            ("scoring_parameter", "std:label",
             "modules/model_evaluation.html#scoring-parameter"),
            ("model_persistence", "std:label",
             "model_persistence.html#model-persistence"),
            ("metadata_routing", "std:label",
             "metadata_routing.html#metadata-routing"),
            ("df_output_transform", "std:label",
             "modules/df_output_transform.html#df-output-transform"),
            ("sphx_glr_auto_examples_miscellaneous_plot_set_output.py", "std:label",
             "auto_examples/miscellaneous/plot_set_output.html#sphx-glr-auto-"
             "examples-miscellaneous-plot-set-output-py"),
        ],
    ),
    "torch": (
        "PyTorch",
        "https://docs.pytorch.org/docs/stable/",
        [
            ("torch", "py:module", "torch.html#module-torch"),
            ("torch.nn", "py:module", "nn.html#module-torch.nn"),
            ("torch.optim", "py:module", "optim.html#module-torch.optim"),
            ("torch.nn.Module", "py:class", "generated/$.html#$"),
            ("torch.nn.Module.eval", "py:method",
             "generated/torch.nn.Module.html#$"),
            ("torch.nn.Module.train", "py:method",
             "generated/torch.nn.Module.html#$"),
            ("torch.nn.MSELoss", "py:class", "generated/$.html#$"),
            ("torch.dtype", "py:class", "tensor_attributes.html#$"),
            ("torch.Tensor", "py:class", "tensors.html#$"),
            ("torch.device", "py:class", "tensor_attributes.html#$"),
            ("torch.as_tensor", "py:function", "generated/$.html#$"),
            ("torch.no_grad", "py:class", "generated/$.html#$"),
            ("torch.manual_seed", "py:function", "generated/$.html#$"),
            ("torch.set_num_threads", "py:function", "generated/$.html#$"),
            ("torch.cuda.is_available", "py:function", "generated/$.html#$"),
            ("torch.random.fork_rng", "py:function", "random.html#$"),
            ("torch.optim.Optimizer", "py:class", "optim.html#$"),
            ("torch.optim.Adam", "py:class", "generated/$.html#$"),
            ("torch.optim.AdamW", "py:class", "generated/$.html#$"),
            ("torch.optim.SGD", "py:class", "generated/$.html#$"),
            ("torch.optim.RMSprop", "py:class", "generated/$.html#$"),
        ],
    ),
    "skorch": (
        "skorch",
        "https://skorch.readthedocs.io/en/stable/",
        [
            ("skorch.net.NeuralNet", "py:class", "net.html#$"),
            # skorch re-exports it; its docs list the defining module only.
            ("skorch.NeuralNet", "py:class", "net.html#skorch.net.NeuralNet"),
            ("skorch.regressor.NeuralNetRegressor", "py:class", "regressor.html#$"),
            ("skorch.NeuralNetRegressor", "py:class",
             "regressor.html#skorch.regressor.NeuralNetRegressor"),
            ("skorch.callbacks", "py:module",
             "callbacks.html#module-skorch.callbacks"),
            ("skorch.callbacks.Callback", "py:class", "callbacks.html#$"),
            ("skorch.callbacks.EarlyStopping", "py:class", "callbacks.html#$"),
            ("skorch.callbacks.EpochScoring", "py:class", "callbacks.html#$"),
            ("skorch.callbacks.ProgressBar", "py:class", "callbacks.html#$"),
            ("skorch.history.History", "py:class", "history.html#$"),
        ],
    ),
}

# Names whose upstream entry is deliberately different (aliases skorch does
# not list itself); --check does not report them.
ALIASES = {"skorch.NeuralNet", "skorch.NeuralNetRegressor"}


def _objects(rows):
    for name, domain_role, uri in rows:
        domain, role = domain_role.split(":")
        yield soi.DataObjStr(
            name=name, domain=domain, role=role, priority="1",
            uri=_expand(uri, name), dispname="-",
        )


def write_small():
    for key, (project, _, rows) in INVENTORIES.items():
        inv = soi.Inventory()
        inv.project = project
        inv.version = "stable"
        inv.objects.extend(_objects(rows))
        path = HERE / f"{key}.inv"
        soi.writebytes(path, soi.compress(inv.data_file(contract=True)))
        print(f"wrote {path.relative_to(HERE.parent.parent)} ({len(rows)} objects)")


def _expand(uri, name):
    return uri.replace("$", name)


def check_or_full(full):
    stale = 0
    for key, (_, base, rows) in INVENTORIES.items():
        upstream = soi.Inventory(url=base + "objects.inv")
        if full:
            path = HERE / f"{key}.inv"
            soi.writebytes(path, soi.compress(upstream.data_file(contract=True)))
            print(f"wrote {path.name}: full inventory, {upstream.count} objects")
            continue
        index = {
            (o.name, f"{o.domain}:{o.role}"): o.uri_expanded
            for o in upstream.objects
        }
        for name, domain_role, uri in rows:
            if name in ALIASES:
                continue
            found = index.get((name, domain_role))
            if found is None:
                others = [dr for (n, dr) in index if n == name]
                print(f"{key}: {name} ({domain_role}) not upstream; found as {others}")
                stale += 1
            elif found != _expand(uri, name):
                ours = _expand(uri, name)
                print(f"{key}: {name}: table has {ours}, upstream {found}")
                stale += 1
    if not full:
        print(f"{stale} stale row(s)")
    return 1 if stale else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true",
                       help="compare the table with the published inventories")
    group.add_argument("--full", action="store_true",
                       help="write the complete published inventories")
    args = parser.parse_args(argv)
    if args.check or args.full:
        return check_or_full(full=args.full)
    write_small()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Sphinx configuration for the skcae documentation.

Build, from the repository root (the README's Documentation section)::

    pip install -c constraints-cpu.txt -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html

``-D plot_gallery=0`` skips running the examples (``make -C docs html-noplot``).
``docs/_ext/skcae_docs.py`` holds the helpers this file hooks in by name (the
gallery's matplotlib style, the cleaning of inherited scikit-learn
docstrings); ``docs/_static/skcae.css`` the style additions;
``bash docs/_scripts/screenshots.sh`` takes screenshots of a built site.

Intersphinx works offline
-------------------------
The build never downloads anything. Each ``intersphinx_mapping`` entry pairs the
project's real documentation URL (links in the rendered pages point there) with a
small inventory file kept in ``docs/_intersphinx/``. Those files are written by
``docs/_intersphinx/make_inventories.py`` from its hand-kept table of the
objects these docs and the examples refer to (each name with its real page and
anchor in that project's docs), using sphobjinv. To add a name, add a row to
the table and run::

    python docs/_intersphinx/make_inventories.py

On a machine with internet access, refresh and check them against the
projects' published inventories with::

    python docs/_intersphinx/make_inventories.py --check   # report stale rows
    python docs/_intersphinx/make_inventories.py --full    # or keep the full files

``--check`` downloads each project's ``objects.inv`` and reports rows whose name
is missing upstream or whose address moved; ``--full`` replaces the small files
with the complete upstream inventories (a few MiB in all).
"""

import os
import re
import sys
import time
from pathlib import Path

# Figures are rendered off-screen. torch gets one thread: the gallery's
# examples run inside this process, and the estimators' default thread policy
# (n_jobs=None: the CPUs other processes leave idle) never uses more than
# torch.get_num_threads(), so every example fits and scores on one thread and
# the build does not compete for the cores of a shared CI machine. Run
# directly (python examples/plot_*.py), the examples use the adaptive policy.
os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402

torch.set_num_threads(1)

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # document this checkout, installed or not
sys.path.insert(0, str(DOCS / "_ext"))  # skcae_docs: helpers imported by name

from skcae_docs import (  # noqa: E402
    sidebar_word_breaks,
    strip_sklearn_version_notes,
)
from sphinx.util import logging  # noqa: E402

import skcae  # noqa: E402

# -- Project -----------------------------------------------------------------
project = "skcae"
author = "The skcae developers"
copyright = f"{time.gmtime().tm_year}, {author}"
release = skcae.__version__
version = ".".join(release.split(".")[:2])
# The navbar shows a short version: "0.1.0.dev", not the full development
# version with its commit ("0.1.0.dev51+g6b50a9eac"), which the footer shows.
short_release = re.sub(r"(\.dev)\d+$", r"\1", release.split("+")[0])

# -- General -----------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "_ext",
    "_intersphinx",
    "_scripts",
    "Thumbs.db",
    ".DS_Store",
    "**.ipynb_checkpoints",
]
root_doc = "index"
default_role = "literal"  # `x` renders as code, never as a broken reference
# The on-page contents of a class page lists its methods as "fit()", not
# "ConvAutoencoderOutlierDetector.fit()" (which the sidebar cuts off).
toc_object_entries_show_parents = "hide"

# -- autodoc / autosummary / numpydoc ----------------------------------------
autosummary_generate = True
autodoc_typehints = "none"
autodoc_member_order = "groupwise"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
# numpydoc's validation runs on every documented public object; with -W its
# findings fail the build. These checks are the ones the public API must
# pass: a docstring exists, parameters match the signature and are
# described, and the summary line is well formed. (RT02 is left out: skcae,
# like scikit-learn, names its return values, e.g. "self : object".)
numpydoc_validation_checks = {
    "GL08",  # the object has no docstring
    "PR01",  # parameters in the signature but not documented
    "PR02",  # documented parameters not in the signature
    "PR03",  # parameters in the wrong order
    "PR06",  # parameter type uses "integer" / "boolean" / "string"
    "PR07",  # parameter without a description
    "PR10",  # "x: int" needs a space before the colon
    "SS01",  # no summary line
    "SS06",  # the summary spans more than one line
}
# Members that scikit-learn and torch document themselves.
numpydoc_validation_exclude = {
    r"\.get_params$",
    r"\.set_params$",
    r"\.get_metadata_routing$",
    r"\.set_\w+_request$",
    r"\.set_output$",
    r"\.fit_predict$",
    r"\.fit_transform$",
    r"\.forward$",
    r"\.on_\w+$",  # skorch callback hooks, documented by skorch
    r"\.__init__$",
}

# -- intersphinx (offline: see the module docstring) --------------------------
intersphinx_mapping = {
    "python": ("https://docs.python.org/3/", "_intersphinx/python.inv"),
    "numpy": ("https://numpy.org/doc/stable/", "_intersphinx/numpy.inv"),
    "sklearn": ("https://scikit-learn.org/stable/", "_intersphinx/sklearn.inv"),
    "torch": ("https://docs.pytorch.org/docs/stable/", "_intersphinx/torch.inv"),
    "skorch": ("https://skorch.readthedocs.io/en/stable/", "_intersphinx/skorch.inv"),
}

# -- sphinx-gallery ------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",  # run every plot_*.py, nothing else
    "plot_gallery": "True",  # ``-D plot_gallery=0`` skips running them
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("skcae",),  # skcae names in the code link to the API pages
    "matplotlib_animations": False,
    "remove_config_comments": True,
    "download_all_examples": False,
    "within_subsection_order": "FileNameSortKey",
    "min_reported_time": 1,
    # Per-example times are printed in the build log and shown on each
    # example's page; no sg_execution_times.rst is written into docs/.
    "write_computation_times": False,
    "show_memory": False,
    # A failing example fails the build (with -W or not).
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    # Legible figures: matplotlib's defaults plus larger fonts and a higher
    # dpi before each example (docs/_ext/skcae_docs.py), and a 2x version of
    # each image for high-density screens.
    "reset_modules": ("skcae_docs.gallery_matplotlib",),
    "image_srcset": ["2x"],
    # The examples print what the reader should check; the value of a cell's
    # last expression (a matplotlib Text object...) is not shown.
    "capture_repr": (),
}

# -- HTML --------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skcae {short_release}"
html_static_path = ["_static"]
html_css_files = ["skcae.css"]  # long titles wrap; gallery cards and figures
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright", "skcae-version"],
}
html_sidebars = {
    "install": [],
    "index": [],
    "user_guide": [],
    "benchmarks": [],
    "scoring_millions": [],
}


# -- The API page must list every public name ----------------------------------
# skcae.__all__ and the __all__ of each public submodule are compared with the
# names listed in api.rst; a missing one is a warning, hence an error with -W.
PUBLIC_SUBMODULES = ("callbacks", "datasets", "images", "plotting")


def _public_names():
    names = {f"skcae.{n}" for n in skcae.__all__ if not n.startswith("__")}
    for sub in PUBLIC_SUBMODULES:
        try:
            module = __import__(f"skcae.{sub}", fromlist=["__all__"])
        except ImportError:
            continue
        names |= {f"skcae.{sub}.{n}" for n in getattr(module, "__all__", ())}
    return names


def _api_names(path):
    names, module, in_autosummary = set(), "skcae", False
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if m := re.match(r"\.\. currentmodule:: (\S+)", line):
            module = m.group(1)
        elif line.startswith(".. autosummary::"):
            in_autosummary = True
        elif in_autosummary and line and not line[0].isspace():
            in_autosummary = False
        elif in_autosummary and (m := re.match(r"\s+([A-Za-z_][\w.]*)\s*$", line)):
            names.add(f"{module}.{m.group(1)}")
    return names


def _check_api_page(app):
    missing = sorted(_public_names() - _api_names(DOCS / "api.rst"))
    if missing:
        logging.getLogger("skcae.docs").warning(
            "public names missing from docs/api.rst (add one line each to an "
            "autosummary block): %s",
            ", ".join(missing),
        )


def setup(app):
    app.connect("builder-inited", _check_api_page)
    app.connect("autodoc-process-docstring", strip_sklearn_version_notes)
    # after the theme's own handler (priority 500), which defines the function
    app.connect("html-page-context", sidebar_word_breaks, priority=600)

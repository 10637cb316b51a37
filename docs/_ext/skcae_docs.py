"""Helpers of docs/conf.py that Sphinx extensions import by name.

sphinx-gallery's ``reset_modules`` takes functions as importable names, so
the matplotlib style of the gallery lives here (``docs/_ext`` is put on
``sys.path`` by ``conf.py``).
"""

import re

# Figures in the gallery are shown at most ~800 px wide: at these sizes their
# text stays readable once the page scales them down.
GALLERY_RCPARAMS = {
    "figure.dpi": 100,
    "savefig.dpi": 130,
    "savefig.bbox": "tight",
    "font.size": 12,
    "axes.titlesize": 13,
    "axes.labelsize": 12,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "legend.fontsize": 11,
    "figure.titlesize": 13,
}


def gallery_matplotlib(gallery_conf, fname):
    """Reset matplotlib to its defaults, then apply the gallery's style."""
    import matplotlib
    import matplotlib.pyplot as plt

    plt.close("all")
    plt.rcdefaults()
    matplotlib.rcParams.update(GALLERY_RCPARAMS)


# Inherited scikit-learn docstrings (get_params, set_output, ...) carry
# scikit-learn's own version notes ("Added in version 1.4"), which would read
# as skcae versions on skcae's pages.
_VERSION_NOTE = re.compile(r"^(\s*)\.\. (versionadded|versionchanged|deprecated)::")


def strip_sklearn_version_notes(app, what, name, obj, options, lines):
    """autodoc-process-docstring: drop version directives of sklearn methods."""
    module = getattr(obj, "__module__", None) or ""
    if not module.startswith("sklearn"):
        return
    kept, skip_indent = [], None
    for line in lines:
        if skip_indent is not None:
            indent = len(line) - len(line.lstrip())
            if not line.strip() or indent > skip_indent:
                continue
            skip_indent = None
        match = _VERSION_NOTE.match(line)
        if match:
            skip_indent = len(match.group(1))
            continue
        kept.append(line)
    lines[:] = kept

"""Helpers of docs/conf.py that Sphinx extensions import by name.

sphinx-gallery's ``reset_modules`` takes functions as importable names, so
the matplotlib style of the gallery lives here (``docs/_ext`` is put on
``sys.path`` by ``conf.py``).
"""

import re

from markupsafe import Markup

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


# The section navigation's links may break only between the words of a long
# name (Conv|Autoencoder|Outlier|Detector, make_|one_|class_|split), never
# inside a word: the theme lets links break anywhere (overflow-wrap on every
# <a>), and docs/_static/skcae.css turns that off for the sidebar.
_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[_.])(?=\w)")
_LINK_TEXT = re.compile(r"(<a\b[^>]*>)([A-Za-z_][\w.]*)(</a>)")


def camel_case_breaks(html):
    """Put ``<wbr>`` between the words of the names that links show."""

    def insert(match):
        opening, name, closing = match.groups()
        return opening + _WORD_START.sub("<wbr>", name) + closing

    # the theme's function returns a BeautifulSoup tree, rendered as str
    return Markup(_LINK_TEXT.sub(insert, str(html)))


def sidebar_word_breaks(app, pagename, templatename, context, doctree):
    """html-page-context: word breaks in the theme's section navigation."""
    generate = context.get("generate_toctree_html")
    if generate is None:
        return

    def generate_with_breaks(*args, **kwargs):
        return camel_case_breaks(generate(*args, **kwargs))

    context["generate_toctree_html"] = generate_with_breaks

"""matplotlib for the displays: imported lazily, with one look for all of them.

matplotlib is an optional dependency (the ``plot`` extra). Nothing here
imports it at module level, so ``import skcae.plotting`` works without it
and only drawing raises an :class:`ImportError` that names the extra.
"""

# Font sizes in points. The docs gallery shrinks figures to the page width,
# so labels are a little larger than matplotlib's 10-point default.
LABEL_SIZE = 12
TICK_SIZE = 10
LEGEND_SIZE = 10
TITLE_SIZE = 10


def import_pyplot(caller):
    """Import :mod:`matplotlib.pyplot`, or raise an ImportError naming the extra.

    Parameters
    ----------
    caller : str
        What needs matplotlib, for the message (e.g. ``"X.plot"``).

    Returns
    -------
    pyplot : module
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            f"{caller} requires matplotlib, which is not installed. Install it "
            'with: pip install "skcae[plot]" (or pip install matplotlib).'
        ) from exc
    return plt


def new_figure(plt, nrows=1, ncols=1, *, figsize, **kwargs):
    """``plt.subplots`` with constrained layout (room for labels and colorbars)."""
    return plt.subplots(nrows, ncols, figsize=figsize, layout="constrained", **kwargs)


def style_axes(*axes):
    """Tick labels of the shared size on every Axes given."""
    for ax in axes:
        ax.tick_params(labelsize=TICK_SIZE)

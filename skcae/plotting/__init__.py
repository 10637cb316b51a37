"""Plots for fitted skcae estimators, in scikit-learn's ``Display`` style.

Each display is built with ``XxxDisplay.from_estimator(...)``, which computes
what to draw and calls ``plot``; the result keeps the matplotlib objects as
``figure_`` and ``ax_``. A display can also be made from precomputed values
with its constructor and drawn with ``plot``.

* :class:`ReconstructionDisplay`: inputs, reconstructions and anomaly maps.
* :class:`ScoreHistogramDisplay`: ``score_samples`` of inliers and outliers
  with the threshold.
* :class:`TrainingCurveDisplay`: losses per epoch, with the costs recorded by
  :class:`~skcae.callbacks.ReconstructionMonitor`.

matplotlib is an optional dependency, imported only when a plot is drawn:
install it with ``pip install "skcae[plot]"``.
"""

from ._reconstruction import ReconstructionDisplay
from ._scores import ScoreHistogramDisplay
from ._training_curve import TrainingCurveDisplay

__all__ = ["ReconstructionDisplay", "ScoreHistogramDisplay", "TrainingCurveDisplay"]

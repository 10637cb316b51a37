"""The method's tuning constants, in one place, with what measures each.

Every number here changes what a default fit learns or what a score means;
the script named beside each (in ``benchmarks/``) is the one that measures
its effect, and the one to rerun before changing it.
"""

# -- the threshold of contamination="auto" (benchmarks/flag_rate.py) -----------
#: contamination="auto" flags this fraction of new normal data.
AUTO_CONTAMINATION = 0.01
#: ... and, from fewer than 10 / AUTO_CONTAMINATION calibration scores
#: (where the threshold rests on their few lowest ones and their spread),
#: sets it from those whose cost's square root (about |t| of the hybrid
#: score's evidence) lies at most AUTO_FENCE interquartile ranges above its
#: upper quartile. One training image with a pixel at 1e6 among 150 8x8
#: digits scored -3,400 out of fold (86 such ranges out), dragged the
#: threshold from -5.3 to -679 and left 0% of other digits flagged,
#: against 98% (a hostile probe); an all-white image among 150 threes lay
#: 11.5 out (one among 150 sevens less, and is kept). Clean calibration
#: scores lay up to 8.0 out (MNIST digit 1, 100 images, in
#: benchmarks/flag_rate.py; sklearn's digits at 30 and 150 images of each
#: digit 4.4 at most, by hand), so at 8 one clean fit of 36 there lost a
#: score (0.35% -> 0.88% of new normal images flagged).
AUTO_FENCE = 10.0
#: ... measured in interquartile ranges of at least this share of the roots'
#: median: on 200 frames, 80% of them blank, the fold networks scored the
#: blanks nearly alike (roots 0.750-0.753), a fence of ten such ranges left
#: out every frame with a blob (roots 1.9-3.9), and "auto" flagged all of
#: them, a fifth of new normal frames (a probe; 0.2% in one seed of three).
#: Clean fits have ranges of 0.58-0.98 medians (sklearn's digits 1, 3, 7 at
#: 150 images, MNIST 1 and 8 at 50 and 250; a /tmp check), where it does not
#: bind; at 30 images it can (0.38 and 0.43 for digits 2 and 7), but kept
#: the same scores in all of 20 fits (ten digits at 30 and 150; a review).
AUTO_FENCE_MIN_SPREAD = 0.5
#: calibration="auto": from this many training samples on, one network and
#: a held-out split; below, cross-fitted networks (see CROSS_FIT_FOLDS).
HOLDOUT_MIN_SAMPLES = 300
#: The held-out split of calibration="holdout": this fraction of X, but at
#: least HOLDOUT_MIN_ROWS rows (so the 1% threshold rests on enough scores).
HOLDOUT_FRACTION = 0.1
HOLDOUT_MIN_ROWS = 100
#: calibration="cross_fit": this many out-of-fold networks, each trained as
#: long as the main one (at half its epochs they flagged 4.2% / 2.9% / 1.7%
#: of new normal images at 30 / 100 / 200 training images against 0.6% /
#: 1.8% / 1.2%: flag_rate.py --digits 1 3 8 --n 30 100 200 --seeds 0 1 2,
#: 2026-12-06, a patch not kept). Two, not three, since 2026-12-07: a
#: quarter of a small fit's training less, at a threshold as near its 1%
#: (flag_rate.py --digits 1 3 8 --n 30 100 200 --seeds 0 1 2, then
#: --digits 0 5 7 --seeds 0 1, --threads 1; 15 fits a size; AUROC the same,
#: the threshold alone moves): new normal images flagged at 30 / 100 / 200
#: training images 2.74% / 1.35% / 1.06% against 2.55% / 1.67% / 1.35% with
#: three, a mean distance from 1% of 2.24 / 1.12 / 0.57 points against
#: 2.20 / 0.93 / 0.61 (results/flag_rate_folds2*.md, flag_rate_folds3*.md).
CROSS_FIT_FOLDS = 2

# -- the score (benchmarks/one_class.py, image_kinds.py, photo_patches.py) -----
#: The "pooled" reconstruction term: the error box-blurred over this many
#: pixels a side, averaged over its POOLED_TOP_FRACTION largest pixels.
POOLED_SMOOTHING = 3
POOLED_TOP_FRACTION = 0.1
#: The "residual" term: each pixel's squared error over its mean on the
#: training samples, in blocks of at most RESIDUAL_MAX_SIDE pixels a side
#: (the references' errors stay small: 256 values a sample), each block's
#: mean plus a floor of RESIDUAL_FLOOR times their mean. Offline (a
#: one-off script on a fitted network's errors, not in the repository), on
#: clean against corrupted validation MNIST, floors of 0.1 / 0.01 / 0.001 gave
#: impulse noise .973 / .991 / .994 and a dotted line .818 / .915 / .943
#: AUROC (the term in the mean squared error's place at full weight), one
#: class and 0-4 normal alike at each.
RESIDUAL_MAX_SIDE = 16
RESIDUAL_FLOOR = 0.01
#: The "range" term: each block's (as the residual term's) squared excess
#: beyond the training samples' range over the block's variance plus
#: RANGE_FLOOR times the mean variance; every cost plus RANGE_OFFSET times
#: the median positive leave-one-out cost.
RANGE_FLOOR = 0.01
RANGE_OFFSET = 0.1
#: ... and its weight is scaled by 1 minus the width of this quantile of
#: the pixels' ranges over the whole range, times the chance that a new
#: sample lies within every range (PixelRange.reliability).
RANGE_NARROW_QUANTILE = 0.1
#: The smallest spread of a TailCalibration (log-cost units): the range
#: term's positive leave-one-out costs had log spreads of 1.0-5.9 (sklearn's
#: digits, all 1,000 and the 183 3s; MNIST 300 and 5,000 of one digit and
#: 5,000 of 0-4; a /tmp check); binary digits, of which one in 1,000 had a
#: positive cost, none.
TAIL_MIN_SPREAD = 1.0
#: The smallest robust spread of a term's calibration (log-cost units): 5%.
MIN_SPREAD = 0.05
#: The largest eps a saved calibration may hold (costs are of standardised
#: data, far below 1e9; eps is a millionth of a median cost).
MAX_EPS = 1e3
#: At most this many training samples serve as kNN references. Each one
#: more sharpens the density term, as for LOF: on a validation split of
#: MNIST's training set (benchmarks/reference_caps.py, selection.py's
#: protocol; the network cached, the score refitted), the hybrid AUROC at
#: 10,000 / 30,000 / all references was .921 / .931 / .931 with digits 0-4
#: normal (24,484 images), .641 / .702 / .713 with all digits but 9
#: (43,241) and .954 / .959 / .963 with all but 7 (42,980). Scoring costs
#: in proportion (every search ranks them all), and the density term's
#: neighbourhoods of its references grow as their square.
MAX_REFERENCES = 30_000
#: ... but beyond FIT_SUBSET of them a trimming round ranks the training
#: samples against FIT_SUBSET references, and each term is calibrated on
#: FIT_SUBSET of its references, so those steps grow with n, not n ** 2
#: (the density term's neighbourhoods of its own references still do).
FIT_SUBSET = 10_000
#: The "density" term: images of at most DENSITY_MAX_SIDE pixels a side
#: themselves (standardised), larger ones the first encoder block's maps
#: average-pooled to at most DENSITY_MAX_SIDE pixels a side, projected on
#: their DENSITY_COMPONENTS principal components; a sample's mean distance
#: to its DENSITY_QUERY_NEIGHBORS nearest references over those references'
#: own mean distance to their DENSITY_REFERENCE_NEIGHBORS nearest
#: (benchmarks/several_class.py, selection.py). Small images used to give
#: maps pooled to 2x2 (8x8 input) beside the image statistics; their pixels
#: alone took sklearn's 8x8 digits from .891 to .970 AUROC with 0-4 normal,
#: .869 to .968 leaving one digit out (benchmarks/small_images.py); MNIST
#: at 14x14 gained from its 7x7 maps unpooled (0-4 normal .857 -> .887,
#: selection.py --mnist-14); its pixels (a patch, not kept) would have
#: given 0-4 normal .894 but contaminated .881 -> .845, so pixels only up
#: to 8x8.
DENSITY_MAX_SIDE = 8
DENSITY_COMPONENTS = 64
DENSITY_QUERY_NEIGHBORS = 20
DENSITY_REFERENCE_NEIGHBORS = 50
#: A float contamination c widens the density term's neighbourhood to
#: round(DENSITY_QUERY_NEIGHBORS * (1 + DENSITY_CONTAMINATION_SCALE * c))
#: (30 at 5%, 40 at 10%; the references' own at least as wide): outliers mixed
#: into X gather in small clusters that a narrower one takes for normal. On
#: validation splits (benchmarks/selection.py) one-class MNIST with 5-10% of
#: other digits gained .013-.027 AUROC; several kinds of normal without
#: outliers, but fitted with a rate, lost .02 (a scale of 20: +.03 / -.05).
DENSITY_CONTAMINATION_SCALE = 10
#: ... but never wider than 1 / DENSITY_WIDEST_SHARE of the references (nor
#: narrower than DENSITY_QUERY_NEIGHBORS): among a hundred or a few hundred
#: images 40 neighbours span a whole kind of normal (validation split of
#: scikit-learn's digits, the true rate: one class with 10% of other digits
#: .980 -> .991, 0-4 normal with 9% .943 -> .954; sets with 20 references
#: per neighbour asked for, 800 at 10% and 2,400 at 50%, are not changed).
DENSITY_WIDEST_SHARE = 20
#: score_type="hybrid": the weight of each calibrated term in the combined
#: cost (benchmarks/selection.py chose them on validation splits).
#: Below this many references a kNN term gets that share of its weight
#: (1,000 before file format 7). At 100 instead of 1,000 (mean AUROC per
#: family; benchmarks/small_images.py's validation split, image_kinds.py's
#: small families, flag_rate.py's MNIST digits 1, 3, 8 from 30 images, 3
#: seeds): 8x8 digits one class .993 -> .997, with 5% / 10% of other digits
#: .991 / .986 -> .997 / .995; 40 texture crops .521 -> .656, 50 photo
#: crops .812 -> .871 (RGB) and .711 -> .783 (grey), 30 8x8 digits .970 ->
#: .973; MNIST from 30 images .892 -> .904 (flagging 2.1% of new normal
#: images, 0.6% before); 16x16 digits one class .996 -> .992. Full weight
#: at any size gave more on textures and photos (.734, .883, .800) but
#: less on MNIST from 30 images (offline, from the terms of the same fits:
#: .894 against .905) and a noisier threshold there (digit 3: 5.5% and
#: 11.4% of new normal images flagged).
RELIABLE_REFERENCES = 100
#: The "residual" term replaced the mean squared error ("mse", weight 1) in
#: the hybrid image score in file format 9, at half weight (selection.py,
#: 2026-12-07, 30 validation tasks in three runs; family means of the
#: second and third, default -> residual 1/2):
#: clean against corrupted MNIST .826 -> .879 (impulse noise .934 -> .971,
#: dotted line .697 -> .853), one class .980 -> .980 / .991 -> .991,
#: several kinds .900 -> .900, leave one out .803 -> .805, contaminated
#: .870 -> .865 and .896 -> .899, 8x8 digits .970 -> .970, photo crops
#: .582 -> .588 (50) and .898 -> .902 (2,000). At full weight (the second
#: run) the corruptions gained more (.898) but one class (.978), several
#: kinds (.897) and leave one out (.797) lost.
#: The "range" term joined the hybrid image score in file format 11, at
#: weight 3 times its share (PixelRange.reliability: its narrowness, about
#: 1 for digits, 0.1-0.4 for photo crops at any position, times the chance
#: that a new sample lies within every range of the references, 0.35 for
#: 120 8x8 digits: at full weight there one-class 8x8 digits lost up to
#: .014 AUROC, small_images.py). selection.py
#: --candidates "before format 11,d3+lat (default)" over 34 tasks at
#: dd05561, before the chance (results/selection_range_dd05561.md; with
#: it, at 2eb0030's code, 15 of them moved by at most .011 from there:
#: 8x8 noise .890 / .974, photo crops back within .001 of the score
#: without the term, results/selection_range_chance_740fb3f-dirty.md),
#: family means without -> with it: Gaussian noise on sklearn's 8x8
#: digits .635 -> .938 (sigma .05
#: / .1: .553 / .716 -> .899 / .976; IsolationForest .746 / .862), on
#: MNIST .977 -> .992, corrupted MNIST .878 -> .896 (impulse noise .971 ->
#: .994, dotted line .853 -> .965, scale and rotate -.004 / -.003), several
#: kinds .900 -> .905, 8x8 digits .970 -> .971, contaminated .899 -> .899;
#: one class .985 -> .984, leave one out .805 -> .803, photo crops .588 ->
#: .584 (50; coins -.011) and .902 -> .900 (2,000). Weights 1 / 2 (a run
#: with the narrowness alone, results/selection_range_weights_da153f6-
#: dirty.md) gave 8x8 noise .775 / .861 at sigma .05. The first design
#: (fitted on the trimmed references, calibrated as the other terms,
#: results/selection_range_fce149b.md) gave .960 there at a quarter weight,
#: but its point mass of zero excesses collapsed the calibration's spread:
#: new normal digits a little beyond the range at one pixel scored as far
#: outliers (a probe).
TERM_WEIGHTS = {
    "density": 3.0,
    "residual": 0.5,
    "pooled": 1.0,
    "mse": 1.0,
    "stats": 1.0,
    "latent": 1.0,
    "range": 3.0,
}
#: ... but where the density term reads the pixels themselves (images of
#: at most DENSITY_MAX_SIDE pixels a side: scikit-learn's 8x8 digits), it
#: and the "range" term weigh this much (file format 12): on the 8x8
#: validation tasks (small_images.py --term-weights '{"density": 6, "range":
#: 6}' at d030317, the default beside it; selection.py --tasks
#: dn5,dn10,dg1,dg8 --candidates "d3+lat (default),density 6 range 6" at
#: 96a7443) several kinds .967 -> .972, corrupted .978 -> .979, one class
#: .996, contaminated 5% / 10% .996 / .994 (the same), Gaussian noise
#: sigma .05 / .1 .890 / .974 -> .906 / .977, 150 images of a digit .988
#: (the same). The density term at 6 alone diluted the range term's noise
#: (dn5 .839; at 12 .765: results/selection_density_8x8_0ffe8c1.md).
#: Larger images keep TERM_WEIGHTS: there a heavier density term cost the
#: contaminated and corrupted MNIST tasks (selection_density_weight_0cb5adb.md).
PIXEL_DENSITY_WEIGHTS = {"density": 6.0, "range": 6.0}

# -- outliers in the training set (benchmarks/contamination.py) ------------------
#: A float contamination c drops the most outlying c of the training
#: samples, plus a margin of up to (TRIM_FACTOR - 1) * c (at most MAX_TRIM
#: in all), from the references and calibration, in TRIM_ROUNDS rounds
#: (each ranks all samples by the references the last one kept);
#: contamination="auto" drops AUTO_TRIM of them, in AUTO_TRIM_ROUNDS rounds.
#: The margin counts in the proportion that the density term's
#: neighbourhood can widen among X's samples (:func:`skcae._knn_terms.
#: widening`: none below 21 * DENSITY_WIDEST_SHARE = 420 samples, all of it
#: from 600 at 5% and 800 at 10%; all of it for a score without that term,
#: as before the rule): both guard against outliers gathered in clumps,
#: which a small X holds too few of, and there the margin only dropped
#: normal samples. One-class MNIST, digits 2, 6 and 8 with 5% / 10% of
#: other digits mixed in, the first network kept, mean AUROC on 3,000 test
#: images (by hand, 2026-12-07): 150 images .881 / .865 dropping c, .873 /
#: .836 dropping 2c; 300 images .909 / .898 against .901 / .880; 1,000
#: images .950 / .925 against .954 / .935; 3,000 images .961 / .927 against
#: .965 / .942.
TRIM_FACTOR = 2.0
#: ... and the network is trained again without them only where the rate
#: names at least RETRAIN_MIN_OUTLIERS outliers in X (c * n): a network
#: learns little from fewer, and the second one lost the normal samples
#: trimmed from its training. Mean AUROC as above, the second network
#: against the first: 150 images .844 / .789 against .873 / .836; 300
#: images .877 / .840 against .901 / .880; 1,000 images .949 / .927 against
#: .954 / .935; 3,000 images (150 / 333 outliers named) .964 / .945 against
#: .965 / .942; all ~5,900 images of the digit (300 / 650) .966 / .937
#: against .954 / .915, and at 1% (60) .990 against .991. On the whole
#: test set, with the rule against without it (benchmarks/contamination.py
#: --digits 2 6 8 --rates 0.05 0.1 --n-train N, results/contamination_n*.md):
#: 150 images .889 / .861 against .849 / .794 ("auto" .893 / .867), 300
#: images .908 / .899 against .894 / .816, 1,000 images .954 / .929 against
#: .948 / .922.
RETRAIN_MIN_OUTLIERS = 250
MAX_TRIM = 0.5
TRIM_ROUNDS = 2
AUTO_TRIM, AUTO_TRIM_ROUNDS = 0.05, 1
#: A float rate drops at least this share (auto's), so that stating a
#: small rate never makes the references less robust than "auto" (which
#: allows for a few percent of outliers). Validation splits
#: (benchmarks/selection.py --candidates "true rate,true rate no floor",
#: results/selection_rate_floor*.md): one class with 1% of other digits,
#: all ten digits, mean AUROC .9839 with the floor against .9834 without
#: (ahead on 6; "auto" .9846 against .9850 with the floor on the 6 of
#: the first run); 2% (2 digits) .9720 against .9716 ("auto" .9699). The
#: cost: clean digits fitted with 0.01 (6 digits) .9859 against .9869
#: without (as "auto" there); several kinds the same to .001. On the test
#: set (contamination.py --rates 0.01) the true rate went .9839 -> .9841,
#: "auto" .9842. The floor also applies to a second training's share (a
#: rate below 5% that names RETRAIN_MIN_OUTLIERS: 25,000 samples at 1%),
#: which no benchmark has measured.
RATE_MIN_TRIM = AUTO_TRIM
#: The terms that rank training samples for trimming (those present).
TRIM_TERMS = ("density", "pooled")

# -- the network and its input (benchmarks/overhead.py, one_class.py) ----------
#: Standardised values are clipped to this many standard deviations: the
#: network stays finite for absurd inputs (1e300 in data at scale 1), which
#: still get huge, finite outlier scores.
Z_LIMIT = 1e6
#: latent_dim may exceed the number of input values (tiny inputs) up to this.
MAX_WIDE_LATENT = 1024
#: batch_size="auto": about this many steps per epoch, between the bounds. At
#: these sizes a step costs about 4 ms plus 0.05 ms an image (2 threads), so
#: fewer, larger steps see the same samples sooner (benchmarks/selection.py).
AUTO_BATCH_STEPS = 16
AUTO_BATCH_MIN, AUTO_BATCH_MAX = 16, 128
#: ... and at most this many input values a batch (at least one sample): 16
#: images of 3000x3000 pixels, each of the first convolution's 8 maps 1.2 GB
#: a batch, got a command-line fit killed for its memory (24 GB) with no
#: message. 16 of 1024x1024 pixels, 128 of 362x362, one of 3000x3000.
AUTO_BATCH_VALUES = 2**24
#: max_epochs="auto": at least AUTO_MIN_EPOCHS epochs and AUTO_MIN_STEPS
#: optimiser steps, at most AUTO_MAX_EPOCHS epochs (benchmarks/selection.py,
#: speed.py, one_class.py: a one-cycle schedule of 4 epochs at the higher
#: rate of lr="auto" is within .003 AUROC of 7 epochs at 3e-3; on the
#: README's demo a floor of 160 steps kept every digit ahead of
#: IsolationForest, 120 lost digit 1, .983 against .984).
AUTO_MIN_EPOCHS, AUTO_MIN_STEPS, AUTO_MAX_EPOCHS = 4, 160, 40
#: lr="auto": AUTO_LR_BUDGET / (the schedule's optimiser steps), between
#: AUTO_LR_MIN and AUTO_LR_MAX: 6e-3 for the floor of 160 steps (small
#: sets), 5e-3-6e-3 for one MNIST digit (160-192 steps), 3e-3 from 320
#: steps on, 8e-3 for 120 steps or fewer (an explicit short max_epochs;
#: benchmarks/selection.py: 6e-3-8e-3 at 120-144 steps held the accuracy
#: of 240-300 steps at 3e-3).
AUTO_LR_BUDGET = 0.96
AUTO_LR_MIN, AUTO_LR_MAX = 3e-3, 8e-3
#: lr_schedule="onecycle": the share of the steps spent warming up.
ONE_CYCLE_WARMUP = 0.25

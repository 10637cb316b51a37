"""Small dense linear algebra of the score's fit, on torch's LAPACK.

numpy's eigendecomposition runs on OpenBLAS's own threads, which
busy-wait for each other at each of the many small steps of a symmetric
eigensolver; beside any other busy thread on a small machine one of them
is descheduled and the call stalls: a 392x392 covariance took 10 ms on a
quiet 2-core host and a median 72 ms, up to 2.3 s, beside one busy
process, and sporadically doubled a 0.8 s fit of 300 MNIST images. torch's
solver (MKL) runs with the calling thread's intra-op threads, one inside
every public call of skcae (:mod:`skcae._threads`): 8-14 ms, whatever the
load, and the same bits whatever OpenBLAS's thread count.
"""

import numpy as np
import torch


def gram(values):
    """``values.T @ values`` of a float64 ndarray ``(n, d)``, by torch.

    numpy's product of 5,000 x 392 values took 105 ms on two OpenBLAS
    threads beside one busy process, torch's 65 ms on one thread.

    Examples
    --------
    >>> import numpy as np
    >>> gram(np.array([[1.0, 2.0], [3.0, 4.0]])).tolist()
    [[10.0, 14.0], [14.0, 20.0]]
    """
    values = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float64))
    return (values.T @ values).numpy()


def symmetric_eigh(matrix):
    """Eigenvalues (ascending) and eigenvectors (columns) of a symmetric
    float64 matrix, as ndarrays, as :func:`numpy.linalg.eigh`.

    Examples
    --------
    >>> import numpy as np
    >>> values, vectors = symmetric_eigh(np.array([[2.0, 1.0], [1.0, 2.0]]))
    >>> values.round(6).tolist()
    [1.0, 3.0]
    >>> bool(np.allclose(np.abs(vectors), np.sqrt(0.5)))
    True
    """
    matrix = torch.from_numpy(np.array(matrix, dtype=np.float64, order="C"))
    values, vectors = torch.linalg.eigh(matrix)
    return values.numpy(), vectors.numpy()


def top_components(values, n_components, *, n_oversamples=10, n_iter=4):
    """The ``n_components`` leading right singular vectors of ``values``
    (a centred float64 ndarray ``(n, d)``) as columns, and their variances
    (squared singular values over ``n - 1``): a randomised range finder
    with ``n_iter`` power iterations, as scikit-learn's randomised PCA, in
    torch with a generator of its own (seed 0), so that its bits follow
    neither OpenBLAS's thread count nor any global random state.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 3)) @ np.diag([5.0, 1.0, 0.1])
    >>> components, variance = top_components(x - x.mean(0), 1)
    >>> np.abs(components.ravel()).round(2).tolist()
    [1.0, 0.0, 0.0]
    """
    x = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float64))
    n, d = x.shape
    generator = torch.Generator().manual_seed(0)
    width = min(d, n_components + n_oversamples)
    q = x @ torch.randn(d, width, generator=generator, dtype=torch.float64)
    for _ in range(n_iter):
        q = x @ (x.T @ torch.linalg.qr(q).Q)
    q = torch.linalg.qr(q).Q
    _, singular, vh = torch.linalg.svd(q.T @ x, full_matrices=False)
    k = min(n_components, len(singular))
    variance = singular[:k].square() / max(n - 1, 1)
    return vh[:k].T.numpy(), variance.numpy()

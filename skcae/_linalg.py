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

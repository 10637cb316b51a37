"""Matrix products whose every row is computed alike, wherever it sits.

A CPU matrix product (MKL, oneDNN) cuts its rows into blocks for its
kernels; where the number of rows is not a multiple of a block, the last
rows go through another kernel, whose rounding differs. For some shapes (a
dense layer of 6 inputs to 5 outputs; a float64 map of 5-dimensional
codes) a sample's result then depended on its position in the chunk
scored with it, by up to 4e-7 of its score, so that shuffling or splitting
the rows scored changed scores (and, for a threshold set on one of them,
that sample's label). :func:`rowwise_matmul` computes each row as its own
``1 x k`` product (one batched product), the same kernel for every row.
"""

import torch
from torch import nn
from torch.nn import functional as F

#: Products with a larger right-hand matrix keep the plain kernel: the
#: batched product reads it once per row (a layer of 100,000 features into
#: 64 units scored 5x slower), and the rows' position-dependence was seen
#: only for narrow shapes (6 into 5; 784 into 64 and 1,000 into 64 gave
#: every row alike).
ROWWISE_MAX_VALUES = 2**15


def _plain(*tensors):
    """Whether the plain product is needed: gradients (training), forward-
    mode derivatives or an export (a graph keeps its plain MatMul)."""
    if torch.compiler.is_compiling():
        return True
    for t in tensors:
        if t.requires_grad and torch.is_grad_enabled():
            return True
        if torch.autograd.forward_ad.unpack_dual(t).tangent is not None:
            return True
    return False


def rowwise_matmul(a, b):
    """``a @ b`` of a 2-D ``a`` ``(n, k)`` and ``b`` ``(k, m)``, each row of the
    result computed by the same kernel whatever ``n`` and its position.

    >>> a, b = torch.randn(7, 6), torch.randn(6, 5)
    >>> bool(torch.allclose(rowwise_matmul(a, b), a @ b, atol=1e-6))
    True
    """
    if a.ndim != 2 or b.ndim != 2 or b.numel() > ROWWISE_MAX_VALUES or _plain(a, b):
        return a @ b
    # one layout of the operands, as the kernel follows it too: ``a``
    # row-major and ``b`` a fresh column-major copy (torch's alignment), as
    # a linear layer's transposed weight is (a fitted transform in numpy's
    # memory and the same one loaded from a file differed in the last bit;
    # a row-major ``b`` let the batched product fold into one matrix
    # product, position-dependent again)
    a, b = a.contiguous(), b.t().clone(memory_format=torch.contiguous_format).t()
    n = a.shape[0]
    return torch.bmm(a.unsqueeze(1), b.unsqueeze(0).expand(n, *b.shape)).squeeze(1)


class RowwiseLinear(nn.Linear):
    """:class:`torch.nn.Linear` whose rows are computed alike where no
    gradient is needed (scoring: see the module docstring), by
    :func:`rowwise_matmul`; training and export run the plain layer. Its
    parameters, state dict and hooks are the plain layer's."""

    def forward(self, x):
        if (
            x.ndim != 2
            or self.weight.numel() > ROWWISE_MAX_VALUES
            or _plain(x, self.weight)
        ):
            return F.linear(x, self.weight, self.bias)
        out = rowwise_matmul(x, self.weight.t())
        # (the bias in the product's dtype, as F.linear under autocast)
        return out if self.bias is None else out + self.bias.to(out.dtype)

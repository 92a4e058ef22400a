"""The mathematics of capsule networks as plain functions (no parameters).

Sabour, Frosst & Hinton (2017), "Dynamic Routing Between Capsules", NeurIPS.
https://arxiv.org/abs/1710.09829

* :func:`squash` (Eq. 1) and :func:`capsule_length`;
* :func:`dynamic_routing` (Procedure 1, Eqs. 2-3), vectorised, and
  :func:`dynamic_routing_loop`, the same procedure written one input/output
  pair at a time, as the paper reads (for teaching and testing);
* :func:`margin_loss` (Eq. 4) and :func:`reconstruction_loss` (Section 4.1);
  :func:`spread_loss`, the loss of matrix capsules with EM routing (Hinton,
  Sabour & Frosst 2018, Section 3.1).

Modules with parameters (:mod:`capslib.nn`) call these functions.  Every public
function checks its inputs and says what it expected and what it got (with the
helpers of :mod:`capslib.checks`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .checks import (
    _check_dim,
    _describe,
    _require_floating,
    _require_nonempty,
    _require_number,
    _require_tensor,
    require_shape,
)

__all__ = [
    "capsule_length",
    "compiling",
    "value_checks",
    "dynamic_routing",
    "dynamic_routing_loop",
    "margin_loss",
    "reconstruction_loss",
    "spread_loss",
    "squash",
]

# dtypes too narrow for a safe squared-norm reduction: we reduce in float32.
_LOW_PRECISION = (torch.float16, torch.bfloat16)


# ----------------------------------------------------------------------------
# the checks that read values, and their switch
# ----------------------------------------------------------------------------
_value_checks_enabled = True


def compiling() -> bool:
    """True while ``torch.compile`` traces the code (a check that reads a value would break its graph)."""
    is_compiling = getattr(getattr(torch, "compiler", None), "is_compiling", None)
    return bool(is_compiling is not None and is_compiling())


def autocast_enabled(device_type: str) -> bool:
    """Whether ``torch.autocast`` is on for ``device_type`` (``"cpu"`` or ``"cuda"``) here."""
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4 takes no device type
        return (
            torch.is_autocast_cpu_enabled()
            if device_type == "cpu"
            else torch.is_autocast_enabled()
        )


class value_checks:
    """Turn the checks that read tensor values on or off, as a context manager (or call ``.set()``).

    The checks (finite inputs to the losses, labels in range) turn a silent
    NaN or a wrong label into an error that says where it came in.  Each one
    copies a value to the host: on a CPU that costs nothing, on a GPU it
    stalls the pipeline (a forward, loss and backward made 11 such syncs).
    They are on by default, for learners; the trainer's ``value_checks``
    option runs them on the first step of each epoch only, or never.

    >>> with value_checks(False):
    ...     pass  # no value checks in here
    """

    def __init__(self, enabled: bool):
        self.enabled, self._previous = bool(enabled), None

    def __enter__(self):
        global _value_checks_enabled
        self._previous, _value_checks_enabled = _value_checks_enabled, self.enabled
        return self

    def __exit__(self, *exc):
        global _value_checks_enabled
        _value_checks_enabled = self._previous
        return False


def _checking_values() -> bool:
    """Whether to run the checks that read tensor values (see :class:`value_checks`; never while compiling)."""
    return _value_checks_enabled and not compiling()


def _require_finite(x: Tensor, fn: str, name: str) -> None:
    if _checking_values() and not bool(torch.isfinite(x).all()):
        n_nan = int(torch.isnan(x).sum())
        n_inf = int(torch.isinf(x).sum())
        raise ValueError(
            f"{fn}: expected finite values in {name}, got {n_nan} NaN and {n_inf} infinite "
            f"entries in a tensor of {_describe(x)}"
        )


# ----------------------------------------------------------------------------
# Eq. 1: the squashing non-linearity, and the length of a capsule
# ----------------------------------------------------------------------------
def squash(s: Tensor, dim: int = -1, eps: float = 1e-8) -> Tensor:
    r"""Shrink each vector along ``dim`` to a length in [0, 1), keeping its direction (Eq. 1).

    .. math:: v = \frac{\|s\|^2}{1 + \|s\|^2} \frac{s}{\|s\|}

    Short vectors shrink to almost zero (:math:`\|v\| \approx \|s\|^2`), long
    ones to a length just below one.

    Args:
        s: ``(..., capsule_dim, ...)`` any floating tensor; the capsule vectors
            lie along ``dim``.
        dim: the capsule dimension.
        eps: added under the square root, so that the value *and* the gradient
            are finite at an exact zero vector (where the output is zero).  It
            shortens ``v`` by a relative ``eps / (2 ||s||^2)``: negligible
            unless ``||s|| < 1e-3``, where ``||v|| < 1e-6`` anyway.

    Returns:
        ``v``, shaped and typed like ``s``.

    Numerics: for float32, float16 and bfloat16 inputs the squared norm and the
    scaling factor are computed in float64, then applied to ``s``.  So ``eps``
    is representable, and a vector as long as 1e20 (whose squared norm, 1e40,
    would overflow float32 to ``inf`` and give NaN) still squashes to a unit
    vector: the result is finite for every finite float32 input.  (float64
    inputs are computed in float64, finite below norms of about 1e154.)
    """
    _require_floating(s, "squash", "s")
    dim = _check_dim(s, dim, "squash", "s")
    _require_number(eps, "squash", "eps", low=0.0, low_open=True)
    work = s.float() if s.dtype in _LOW_PRECISION else s
    wide = work if work.dtype == torch.float64 else work.double()
    squared_norm = (wide * wide).sum(dim=dim, keepdim=True)  # ||s||^2, in float64
    norm = torch.sqrt(squared_norm + eps)  # ||s||, safe at s = 0
    factor = squared_norm / (1.0 + squared_norm) / norm  # Eq. 1: v = factor * s
    return (work * factor.to(work.dtype)).to(s.dtype)


def capsule_length(v: Tensor, dim: int = -1) -> Tensor:
    r"""The length :math:`\|v\|` of each capsule vector along ``dim`` (the probability an entity is present).

    Exact (no epsilon), zero at an exact zero vector, and with a finite
    gradient there (the sub-gradient 0): the square root only ever sees
    strictly positive numbers.  A vector holding NaN has length NaN (never 0,
    which would hide the NaN from every check downstream).  The sum of squares
    is taken in float64, so a float32 vector as long as 1e20 has a finite
    length.

    Args:
        v: ``(..., capsule_dim, ...)`` floating tensor.
        dim: the capsule dimension, removed from the output.

    Returns:
        ``(...)``: ``v`` without ``dim``, in float64 for a float64 ``v`` and in
        float32 otherwise.  Lengths of float16/bfloat16 capsules (e.g. under
        autocast) are float32: bfloat16's resolution near 0.9, where the margin
        loss's :math:`m^+` sits, would be about 0.004.
    """
    _require_floating(v, "capsule_length", "v")
    dim = _check_dim(v, dim, "capsule_length", "v")
    out_dtype = torch.float64 if v.dtype == torch.float64 else torch.float32
    wide = v.double()
    squared = (wide * wide).sum(dim=dim)
    zero = squared == 0  # False for NaN: NaN stays NaN
    # the "double where": sqrt never sees 0, so its gradient (1 / 2 sqrt) stays finite
    safe = torch.where(zero, torch.ones_like(squared), squared)
    length = torch.where(zero, torch.zeros_like(squared), torch.sqrt(safe))
    return length.to(out_dtype)


# ----------------------------------------------------------------------------
# Procedure 1: routing by agreement
# ----------------------------------------------------------------------------
def _check_routing_inputs(u_hat: Tensor, iterations: int, fn: str) -> None:
    shape = ("batch", "in_caps", "out_caps", "out_dim")
    require_shape(u_hat, fn, "u_hat", shape, floating=True)
    if isinstance(iterations, bool) or not isinstance(iterations, int):
        raise TypeError(
            f"{fn}: expected iterations to be an int >= 1, got {type(iterations).__name__}"
        )
    if iterations < 1:
        raise ValueError(f"{fn}: expected iterations >= 1, got {iterations}")


def dynamic_routing(
    u_hat: Tensor,
    iterations: int = 3,
    return_couplings: bool = False,
    detach_intermediate: bool = False,
):
    r"""Routing by agreement (Procedure 1 of the paper), vectorised over capsules.

    For every example the routing logits start at zero, :math:`b_{ij} = 0`, and
    each iteration does

    .. math::

        c_{ij} = \frac{\exp b_{ij}}{\sum_k \exp b_{ik}} \qquad
        s_j = \sum_i c_{ij}\, \hat u_{j|i} \qquad
        v_j = \operatorname{squash}(s_j) \qquad
        b_{ij} \mathrel{+}= \hat u_{j|i} \cdot v_j

    the last update being skipped after the final iteration (it would not be
    used).  With ``iterations=1`` the couplings are uniform, :math:`c_{ij} =
    1/\text{out\_caps}`, and ``v`` is the squashed average prediction.

    Args:
        u_hat: ``(batch, in_caps, out_caps, out_dim)``: the prediction
            :math:`\hat u_{j|i} = W_{ij} u_i` of each input capsule ``i`` for
            each output capsule ``j`` (Eq. 2).
        iterations: number of routing iterations ``r >= 1`` (the paper uses 3).
        return_couplings: also return the couplings ``c`` that produced ``v``.
        detach_intermediate: if True, gradients flow through ``u_hat`` only in
            the last iteration (a common variant; the official implementation,
            and the default here, backpropagates through every iteration).

    Returns:
        ``v``: ``(batch, out_caps, out_dim)``; with ``return_couplings=True``
        the pair ``(v, c)`` with ``c``: ``(batch, in_caps, out_caps)``, whose
        rows sum to one over the output capsules.
    """
    _check_routing_inputs(u_hat, iterations, "dynamic_routing")
    batch, in_caps, out_caps, _ = u_hat.shape
    # b_ij = 0 for every example; float32 at least, so softmax is accurate under autocast
    logits_dtype = torch.float32 if u_hat.dtype in _LOW_PRECISION else u_hat.dtype
    b = torch.zeros(batch, in_caps, out_caps, dtype=logits_dtype, device=u_hat.device)
    for r in range(iterations):
        last = r == iterations - 1
        u = u_hat if (last or not detach_intermediate) else u_hat.detach()
        c = torch.softmax(b, dim=2)  # over output capsules j
        s = torch.einsum(
            "bij,bijd->bjd", c.to(u.dtype), u
        )  # s_j = sum_i c_ij u_hat_j|i
        v = squash(s, dim=-1)  # v_j = squash(s_j)
        if not last:
            b = b + torch.einsum("bijd,bjd->bij", u, v).to(
                b.dtype
            )  # b_ij += u_hat_j|i . v_j
    if return_couplings:
        return v, c
    return v


def dynamic_routing_loop(
    u_hat: Tensor,
    iterations: int = 3,
    return_couplings: bool = False,
    detach_intermediate: bool = False,
):
    r"""Procedure 1 written as the paper reads it: one input/output capsule pair at a time.

    Same arguments, results and checks as :func:`dynamic_routing` (they agree
    to float rounding); slow (Python loops over ``i`` and ``j``), so use it to
    read and to test, and :func:`dynamic_routing` to train.  Only the batch is
    vectorised.

    Args:
        u_hat: ``(batch, in_caps, out_caps, out_dim)``.

    Returns:
        ``v``: ``(batch, out_caps, out_dim)`` [and ``c``: ``(batch, in_caps, out_caps)``].
    """
    _check_routing_inputs(u_hat, iterations, "dynamic_routing_loop")
    batch, in_caps, out_caps, _ = u_hat.shape
    # 1: for all capsule i in layer l and capsule j in layer (l+1): b_ij <- 0
    b = [[u_hat.new_zeros(batch) for _ in range(out_caps)] for _ in range(in_caps)]
    for r in range(iterations):  # 2: for r iterations do
        last = r == iterations - 1
        u = u_hat if (last or not detach_intermediate) else u_hat.detach()
        # 3: for all capsule i in layer l: c_i <- softmax(b_i)
        c = []
        for i in range(in_caps):
            c_i = torch.softmax(
                torch.stack(b[i], dim=-1), dim=-1
            )  # over output capsules j
            c.append(list(c_i.unbind(dim=-1)))
        v = []
        for j in range(out_caps):
            # 4: for all capsule j in layer (l+1): s_j <- sum_i c_ij u_hat_j|i
            s_j = sum(c[i][j].unsqueeze(-1) * u[:, i, j, :] for i in range(in_caps))
            # 5: for all capsule j in layer (l+1): v_j <- squash(s_j)
            v.append(squash(s_j, dim=-1))
        if not last:
            # 6: for all capsule i in layer l and capsule j in layer (l+1): b_ij <- b_ij + u_hat_j|i . v_j
            b = [
                [b[i][j] + (u[:, i, j, :] * v[j]).sum(-1) for j in range(out_caps)]
                for i in range(in_caps)
            ]
    v_out = torch.stack(v, dim=1)  # (batch, out_caps, out_dim)
    if return_couplings:
        c_out = torch.stack(
            [torch.stack(row, dim=-1) for row in c], dim=1
        )  # (batch, in_caps, out_caps)
        return v_out, c_out
    return v_out


# ----------------------------------------------------------------------------
# Eq. 4: margin loss; Section 4.1: reconstruction loss
# ----------------------------------------------------------------------------
def _targets_as_multi_hot(
    targets: Tensor, batch: int, classes: int, fn: str, dtype, device
) -> Tensor:
    _require_tensor(targets, fn, "targets")
    if targets.dim() == 1:
        if (
            targets.is_floating_point()
            or targets.dtype == torch.bool
            or targets.is_complex()
        ):
            raise TypeError(
                f"{fn}: expected class indices (batch,) of an integer dtype or a multi-hot "
                f"(batch, classes) tensor, got targets of {_describe(targets)}"
            )
        if targets.shape[0] != batch:
            raise ValueError(
                f"{fn}: expected targets of shape ({batch},) to match lengths' batch, "
                f"got {_describe(targets)}"
            )
        if (
            _checking_values()
            and targets.numel()
            and (int(targets.min()) < 0 or int(targets.max()) >= classes)
        ):
            raise ValueError(
                f"{fn}: expected class labels in the range [0, {classes}), got labels from "
                f"{int(targets.min())} to {int(targets.max())}"
            )
        return torch.nn.functional.one_hot(targets.long(), classes).to(
            dtype=dtype, device=device
        )
    if targets.dim() == 2:
        if tuple(targets.shape) != (batch, classes):
            raise ValueError(
                f"{fn}: expected multi-hot targets of shape ({batch}, {classes}) like lengths, "
                f"got {_describe(targets)}"
            )
        t = targets.to(dtype=dtype, device=device)
        _require_finite(t, fn, "targets")
        if (
            _checking_values()
            and t.numel()
            and (float(t.min()) < 0 or float(t.max()) > 1)
        ):
            raise ValueError(
                f"{fn}: expected multi-hot targets with values in [0, 1], got values from "
                f"{float(t.min())} to {float(t.max())}"
            )
        return t
    raise ValueError(
        f"{fn}: expected targets as class indices (batch,) or multi-hot (batch, classes), "
        f"got {_describe(targets)}"
    )


def margin_loss(
    lengths: Tensor,
    targets: Tensor,
    m_plus: float = 0.9,
    m_minus: float = 0.1,
    lambda_: float = 0.5,
) -> Tensor:
    r"""The margin loss of Eq. 4, summed over classes and averaged over the batch.

    .. math::

        L_k = T_k \max(0, m^+ - \|v_k\|)^2 + \lambda (1 - T_k) \max(0, \|v_k\| - m^-)^2

    Args:
        lengths: ``(batch, classes)``: the lengths :math:`\|v_k\|` of the class capsules.
        targets: class indices ``(batch,)`` (integer dtype), or multi-hot
            ``(batch, classes)`` with :math:`T_k \in \{0, 1\}` (e.g. two digits
            present in MultiMNIST).
        m_plus, m_minus: the margins (paper: 0.9 and 0.1).
        lambda_: down-weighting of absent classes (paper: 0.5).

    Returns:
        A scalar tensor: :math:`\frac{1}{\text{batch}} \sum_n \sum_k L_k^{(n)}`
        (float32 when ``lengths`` is float16/bfloat16).
    """
    fn = "margin_loss"
    _require_floating(lengths, fn, "lengths")
    _require_number(m_plus, fn, "m_plus", low=0.0, high=1.0)
    _require_number(m_minus, fn, "m_minus", low=0.0, high=1.0)
    _require_number(lambda_, fn, "lambda_", low=0.0)
    require_shape(lengths, fn, "lengths", ("batch", "classes"))
    _require_finite(lengths, fn, "lengths")
    if (
        lengths.dtype in _LOW_PRECISION
    ):  # e.g. under autocast: the loss is reduced in float32
        lengths = lengths.float()
    batch, classes = lengths.shape
    _require_nonempty(batch, fn)
    t = _targets_as_multi_hot(
        targets, batch, classes, fn, lengths.dtype, lengths.device
    )
    present = t * torch.clamp(m_plus - lengths, min=0) ** 2  # T_k max(0, m+ - |v_k|)^2
    absent = (
        lambda_ * (1 - t) * torch.clamp(lengths - m_minus, min=0) ** 2
    )  # lambda (1-T_k) max(0, |v_k| - m-)^2
    return (present + absent).sum(dim=1).mean()


def reconstruction_loss(
    reconstructions: Tensor, images: Tensor, scale: float = 0.0005
) -> Tensor:
    r"""Sum of squared pixel errors per image, times ``scale``, averaged over the batch.

    .. math:: L_\text{rec} = \text{scale} \cdot \frac{1}{\text{batch}} \sum_n \sum_p (r_{np} - x_{np})^2

    The paper scales the *sum* of squared errors by 0.0005 "so that it does not
    dominate the margin loss".  Using the mean squared error instead (a common
    bug) makes the term 784 times weaker on 28x28 images.

    Args:
        reconstructions: ``(batch, C, H, W)`` or ``(batch, C*H*W)``, floating.
        images: ``(batch, C, H, W)`` or ``(batch, C*H*W)``, floating, with the
            same number of elements per example.
        scale: the weight (paper: 0.0005).

    Returns:
        A scalar tensor (float32 when ``reconstructions`` is float16/bfloat16).
    """
    fn = "reconstruction_loss"
    _require_floating(reconstructions, fn, "reconstructions")
    _require_floating(images, fn, "images")
    _require_number(scale, fn, "scale", low=0.0)
    if reconstructions.dim() < 2 or images.dim() < 2:
        raise ValueError(
            f"{fn}: expected batched tensors (batch, ...) for reconstructions and images, got "
            f"reconstructions of {_describe(reconstructions)} and images of {_describe(images)}"
        )
    _require_nonempty(reconstructions.shape[0], fn)
    if (
        reconstructions.shape[0] != images.shape[0]
        or reconstructions[0].numel() != images[0].numel()
    ):
        raise ValueError(
            f"{fn}: expected reconstructions and images with the same batch size and the same "
            f"number of pixels per example, got reconstructions of {_describe(reconstructions)} "
            f"and images of {_describe(images)}"
        )
    _require_finite(reconstructions, fn, "reconstructions")
    _require_finite(images, fn, "images")
    r = reconstructions.reshape(reconstructions.shape[0], -1)
    if (
        r.dtype in _LOW_PRECISION
    ):  # e.g. under autocast: sum the squared errors in float32
        r = r.float()
    x = images.reshape(images.shape[0], -1).to(r.dtype)
    return scale * ((r - x) ** 2).sum(dim=1).mean()


def spread_loss(activations: Tensor, targets: Tensor, margin: float = 0.2) -> Tensor:
    r"""The spread loss of matrix capsules, summed over classes, averaged over the batch.

    .. math:: L = \sum_{i \neq t} \max(0, m - (a_t - a_i))^2

    ``activations``: ``(batch, classes)``, the class capsules' activations ``a``;
    ``targets``: ``(batch,)`` class indices ``t``; ``margin``: ``m`` (the paper
    raises it from 0.2 to 0.9, :func:`capslib.em_routing.spread_margin`).
    """
    fn = "spread_loss"
    _require_floating(activations, fn, "activations")
    _require_number(margin, fn, "margin", low=0.0)
    require_shape(activations, fn, "activations", ("batch", "classes"))
    _require_nonempty(activations.shape[0], fn)
    _require_tensor(targets, fn, "targets")
    if (
        targets.dtype not in (torch.int64, torch.int32)
        or targets.shape != activations.shape[:1]
    ):
        raise ValueError(
            f"{fn}: expected integer targets of shape ({activations.shape[0]},), "
            f"got {_describe(targets)}"
        )
    if targets.min() < 0 or targets.max() >= activations.shape[1]:
        raise ValueError(
            f"{fn}: expected targets in [0, {activations.shape[1] - 1}], "
            f"got values in [{int(targets.min())}, {int(targets.max())}]"
        )
    a = activations.float() if activations.dtype in _LOW_PRECISION else activations
    a_t = a.gather(1, targets.long().unsqueeze(1))  # (batch, 1)
    gaps = torch.clamp(margin - (a_t - a), min=0) ** 2  # i = t gives m^2: removed below
    others = torch.ones_like(gaps).scatter_(1, targets.long().unsqueeze(1), 0.0)
    return (gaps * others).sum(dim=1).mean()

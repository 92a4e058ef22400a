"""Matrix capsules with EM routing (Hinton, Sabour & Frosst, ICLR 2018), small and exact.

A matrix capsule holds a 4x4 *pose matrix* ``M`` and an *activation* ``a`` in
(0, 1) (a logistic unit, not a vector length as in Sabour et al. 2017).  Child
capsule ``i`` votes for the pose of parent ``j`` with ``V_ij = M_i W_ij``
(``W_ij`` a learned 4x4 viewpoint-invariant transformation).  Routing fits, for
every parent, an axis-aligned Gaussian to the votes of the children assigned to
it (the paper's Procedure 1):

* **M-step** (per parent ``j``): ``R_ij <- R_ij a_i``;
  ``mu_j^h = sum_i R_ij V_ij^h / sum_i R_ij``;
  ``(sigma_j^h)^2 = sum_i R_ij (V_ij^h - mu_j^h)^2 / sum_i R_ij``;
  ``cost_j^h = (beta_u + log sigma_j^h) sum_i R_ij``;
  ``a_j = logistic(lambda (beta_a - sum_h cost_j^h))``.
* **E-step** (per child ``i``): ``p_j = N(V_ij; mu_j, sigma_j^2)`` (a product
  over the 16 pose entries) and ``R_ij = a_j p_j / sum_k a_k p_k``: each child's
  assignment probabilities sum to 1 over the parents.

``beta_u`` and ``beta_a`` are learned per parent capsule type; ``lambda`` is an
inverse temperature raised at every iteration.  The paper gives no values for
it; :func:`inverse_temperature_schedule` is the schedule the authors gave on
OpenReview, ``lambda_t = 0.01 (1 - 0.95^(t+1))`` (as in IBM's implementation,
Gritzman 2019; yl-1993/Matrix-Capsules-EM-PyTorch keeps ``lambda = 1e-3``
fixed).  A cost is a sum over the children assigned to a parent, so the right
``lambda`` depends on the layer's size: :meth:`MatrixCapsNetConfig.small`
raises it for a network with 8 times fewer class-capsule children.  With the
paper's sizes and a ``lambda`` rising to 1e-2 (capslib's first choice) the class
capsules start saturated; :class:`MatrixCapsNetConfig` says what was measured.

Layers on top of the function: :class:`PrimaryMatrixCapsules`,
:class:`ConvMatrixCapsules` (a KxK window of child capsules routes to the
parents at one position; as in yl-1993's implementation each window is routed
on its own, so a child that falls in two windows is normalised within each
window separately, a simplification of the paper that IBM's implementation
avoids by normalising each child over every parent it reaches), :class:`ClassMatrixCapsules`
(weights shared across positions, with the paper's *coordinate addition*) and
the network :class:`MatrixCapsNet` (ReLU conv -> primary caps -> conv caps 1 ->
conv caps 2 -> class caps), trained with the :func:`spread_loss`.

One idea per module: :mod:`capslib.em_routing.routing` is the procedure and the
loss (the math, on tensors); :mod:`capslib.em_routing.layers` the capsule layers,
the network and its configuration.  Every name is importable from
``capslib.em_routing`` itself.
"""

from capslib.em_routing.layers import (
    ClassMatrixCapsules,
    ConvMatrixCapsules,
    MatrixCapsNet,
    MatrixCapsNetConfig,
    MatrixCapsNetOutput,
    PrimaryMatrixCapsules,
    coordinate_offsets,
)
from capslib.em_routing.routing import (
    EMRoutingResult,
    e_step,
    em_routing,
    inverse_temperature_schedule,
    m_step,
    spread_margin,
)
from capslib.functional import spread_loss

__all__ = [
    "ClassMatrixCapsules",
    "ConvMatrixCapsules",
    "EMRoutingResult",
    "MatrixCapsNet",
    "MatrixCapsNetConfig",
    "MatrixCapsNetOutput",
    "PrimaryMatrixCapsules",
    "coordinate_offsets",
    "e_step",
    "em_routing",
    "inverse_temperature_schedule",
    "m_step",
    "spread_loss",
    "spread_margin",
]

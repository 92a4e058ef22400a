"""Checks for the exercises of chapter 5 (routing by agreement)."""

from __future__ import annotations

import math

import torch

import capslib.functional as cf

from .report import CheckReport, check, guarded

__all__ = [
    "check_prediction_vectors",
    "check_cosine_update",
    "check_competing_clusters",
    "check_wrong_parent",
    "reference_prediction_vectors",
    "reference_cosine_update",
    "reference_competing_clusters",
    "reference_wrong_parent",
    "wrong_parent_predictions",
    "dot_update",
    "route_with_update",
]


def _random(*shape, seed: int) -> torch.Tensor:
    return torch.randn(
        *shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )


# ---------------------------------------------------------------------------------------------
# Exercise 5.1: the prediction vectors u_hat (Eq. 2)
# ---------------------------------------------------------------------------------------------
def reference_prediction_vectors(u: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """u_hat[b, i, j] = W[i, j] @ u[b, i], for u (batch, in_caps, in_dim) and W
    (in_caps, out_caps, out_dim, in_dim): (batch, in_caps, out_caps, out_dim)."""
    return torch.einsum("ijdk,bik->bijd", W, u)


@guarded
def check_prediction_vectors(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 5.1: ``fn(u, W)`` returns the predictions :math:`\\hat u_{j|i} = W_{ij} u_i` (Eq. 2).

    ``u``: ``(batch, in_caps, in_dim)``; ``W``: ``(in_caps, out_caps, out_dim,
    in_dim)``; the answer: ``(batch, in_caps, out_caps, out_dim)``.
    """
    u, W = _random(2, 5, 8, seed=0), _random(5, 3, 16, 8, seed=1)
    with check(
        "Exercise 5.1: prediction vectors u_hat = W u", verbose=verbose
    ) as report:
        with report.attempt("runs on u (2, 5, 8) and W (5, 3, 16, 8)"):
            out = torch.as_tensor(fn(u.clone(), W.clone())).double()
            if not report.expect(
                tuple(out.shape) == (2, 5, 3, 16),
                "returns (batch, in_caps, out_caps, out_dim)",
                f"got {tuple(out.shape)}, expected (2, 5, 3, 16)",
            ):
                return report
            report.expect(
                torch.allclose(out[1, 2, 0], W[2, 0] @ u[1, 2], atol=1e-8),
                "u_hat[b, i, j] = W[i, j] @ u[b, i] (checked at b=1, i=2, j=0)",
                "each input capsule i has its own matrix for each output j: W[i, j], "
                "not W[j, i] and not one matrix shared by all i",
            )
            report.expect(
                torch.allclose(out, reference_prediction_vectors(u, W), atol=1e-8),
                "all entries right",
                "try torch.einsum('ijdk,bik->bijd', W, u)",
            )
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 5.2: agreement by angle
# ---------------------------------------------------------------------------------------------
def reference_cosine_update(
    b: torch.Tensor, u_hat: torch.Tensor, v: torch.Tensor, eps: float = 1e-12
) -> torch.Tensor:
    """Line 7 with the cosine for the dot product: b_ij + cos(u_hat_j|i, v_j).

    b: (batch, in_caps, out_caps); u_hat: (batch, in_caps, out_caps, out_dim);
    v: (batch, out_caps, out_dim). Where a vector is zero the cosine counts as 0.
    """
    v = v.unsqueeze(1)  # (batch, 1, out_caps, out_dim): lines up with u_hat
    lengths = u_hat.norm(dim=-1) * v.norm(dim=-1)
    return b + (u_hat * v).sum(dim=-1) / lengths.clamp_min(eps)


def dot_update(b: torch.Tensor, u_hat: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Line 7 of Procedure 1 as the paper writes it: b_ij + u_hat_j|i . v_j.

    Shapes as in :func:`reference_cosine_update`."""
    return b + (u_hat * v.unsqueeze(1)).sum(dim=-1)


def route_with_update(
    u_hat: torch.Tensor, update, iterations: int = 3
) -> tuple[torch.Tensor, torch.Tensor]:
    """Procedure 1 with line 7 replaced by ``b = update(b, u_hat, v)``.

    ``u_hat``: ``(batch, in_caps, out_caps, out_dim)``; ``update(b, u_hat, v)``
    returns the new logits, shaped like ``b`` ``(batch, in_caps, out_caps)``.
    Returns ``(v, c)``: the outputs ``(batch, out_caps, out_dim)`` and the
    couplings of the last iteration ``(batch, in_caps, out_caps)``.  With
    :func:`dot_update` it is ``cf.dynamic_routing``.
    """
    b = torch.zeros(u_hat.shape[:3], dtype=u_hat.dtype)
    for _ in range(iterations):
        c = torch.softmax(b, dim=2)  # line 4
        v = cf.squash((c.unsqueeze(-1) * u_hat).sum(dim=1))  # lines 5 and 6
        b = torch.as_tensor(update(b, u_hat, v))  # line 7, replaced
    return v, c


@guarded
def check_cosine_update(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 5.2: ``fn(b, u_hat, v)`` returns ``b_ij + cos(u_hat_j|i, v_j)``.

    Shapes: ``b`` ``(batch, in_caps, out_caps)``, ``u_hat`` ``(batch, in_caps,
    out_caps, out_dim)``, ``v`` ``(batch, out_caps, out_dim)``; the answer is
    shaped like ``b``, computed for each example on its own. A wrong answer
    is compared with the typical mistakes (the paper's dot product, one of the
    two lengths left in, logits replaced, the agreement summed over the batch)
    to name the one it makes; the answer must not change when a prediction is
    made longer, and must stay finite where a prediction is zero.
    """
    b, u_hat, v = (
        _random(3, 4, 2, seed=2),
        _random(3, 4, 2, 5, seed=3),
        _random(3, 2, 5, seed=4),
    )
    expected = reference_cosine_update(b, u_hat, v)
    dot = (u_hat * v.unsqueeze(1)).sum(dim=-1)
    mistakes = [
        (
            b + dot,
            "that is the paper's dot product: divide it by both lengths, "
            "|u_hat_j|i| and |v_j|, to keep only the angle",
        ),
        (
            b + dot / u_hat.norm(dim=-1),
            "divide by the length of v_j as well as by that of u_hat_j|i",
        ),
        (
            b + dot / v.norm(dim=-1).unsqueeze(1),
            "divide by the length of u_hat_j|i as well as by that of v_j",
        ),
        (
            expected - b,
            "add the agreement to the old logits (b + ...): replacing them forgets the "
            "earlier iterations",
        ),
        (
            b + (expected - b).sum(dim=0, keepdim=True),
            "each example has its own logits: don't sum the agreement over the batch",
        ),
    ]

    def diagnose(out: torch.Tensor, fallback: str) -> str:
        for wrong, hint in mistakes:
            if wrong.shape == out.shape and torch.allclose(out, wrong, atol=1e-8):
                return hint
        return fallback

    with check("Exercise 5.2: agreement by angle", verbose=verbose) as report:
        with report.attempt("runs on b (3, 4, 2), u_hat (3, 4, 2, 5), v (3, 2, 5)"):
            out = torch.as_tensor(fn(b.clone(), u_hat.clone(), v.clone())).double()
            if not report.expect(
                out.shape == b.shape,
                "returns a tensor shaped like b (batch, in_caps, out_caps)",
                f"got {tuple(out.shape)}; the cosine is over out_dim only",
            ):
                return report
            report.expect(
                torch.allclose(out, expected, atol=1e-8),
                "every entry right, for every example",
                diagnose(out, "b_ij + (u_hat_j|i . v_j) / (|u_hat_j|i| |v_j|)"),
            )
            longer = u_hat.clone()
            longer[:, 0] *= 3.0
            report.expect(
                torch.allclose(
                    torch.as_tensor(fn(b.clone(), longer, v.clone())).double(),
                    out,
                    atol=1e-8,
                ),
                "a prediction made 3 times longer changes nothing",
                "the update must depend on the angle only: divide by the lengths",
            )
        with report.attempt("a zero prediction"):
            silent = u_hat.clone()
            silent[0, 1] = 0.0
            at_zero = torch.as_tensor(fn(b.clone(), silent, v.clone())).double()
            report.expect(
                bool(torch.isfinite(at_zero).all())
                and torch.allclose(at_zero[0, 1], b[0, 1], atol=1e-8),
                "a zero prediction adds nothing, and no NaN",
                "0 / 0 is NaN: keep the denominator away from 0 (e.g. clamp_min(1e-12))",
            )
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 5.3: two parents, two clusters
# ---------------------------------------------------------------------------------------------
GROUP_SIZE = 4
"""Children ``0..3`` form group A (for parent 0), children ``4..7`` group B (for parent 1) in Exercise 5.3."""


def reference_competing_clusters() -> torch.Tensor:
    """u_hat (1, 8, 2, 2): children 0-3 (group A) agree at parent 0, children 4-7
    (group B) at parent 1, and each group's predictions cancel at the other parent."""
    u_hat = torch.zeros(1, 8, 2, 2)
    pairs = torch.tensor([1.0, -1.0, 1.0, -1.0])
    u_hat[0, :4, 0, 0] = 1.0  # group A agrees at parent 0 ...
    u_hat[0, :4, 1, 0] = pairs  # ... and cancels at parent 1
    u_hat[0, 4:, 1, 1] = 1.0  # group B agrees at parent 1 ...
    u_hat[0, 4:, 0, 1] = pairs  # ... and cancels at parent 0
    return u_hat


def _resultant(vectors: torch.Tensor) -> float:
    """|mean| / mean length of a set of vectors: 1 when they all point the same way, 0 when they cancel."""
    return float(vectors.mean(0).norm() / vectors.norm(dim=-1).mean().clamp_min(1e-12))


@guarded
def check_competing_clusters(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 5.3: ``fn()`` returns predictions ``u_hat`` ``(1, 8, 2, out_dim)`` that split into two clusters.

    Every prediction must have length 1 (so that only directions decide).
    After 3 iterations of :func:`capslib.functional.dynamic_routing`, each of
    children 0-3 must send more than 0.75 of itself to parent 0, and each of
    children 4-7 more than 0.75 to parent 1.  A failure is explained from the
    predictions: which group does not agree where it should, or agrees where
    it should not.
    """
    n = 2 * GROUP_SIZE
    with check("Exercise 5.3: two parents, two clusters", verbose=verbose) as report:
        with report.attempt("runs and returns predictions"):
            u_hat = torch.as_tensor(fn()).double()
            if not report.expect(
                u_hat.dim() == 4
                and tuple(u_hat.shape[:3]) == (1, n, 2)
                and u_hat.shape[3] >= 2,
                "returns u_hat of shape (1, 8, 2, out_dim): 1 example, 8 children, 2 parents",
                f"got shape {tuple(u_hat.shape)}",
            ):
                return report
            lengths = u_hat.norm(dim=-1)
            if not report.expect(
                bool(((lengths - 1).abs() < 1e-3).all()),
                "every prediction has length 1",
                f"lengths from {float(lengths.min()):.3f} to {float(lengths.max()):.3f}: normalise "
                "each prediction (u / u.norm(dim=-1, keepdim=True)), so that only directions "
                "decide",
            ):
                return report
            _, c = cf.dynamic_routing(u_hat, 3, return_couplings=True)
            to_own = torch.cat([c[0, :GROUP_SIZE, 0], c[0, GROUP_SIZE:, 1]])
            groups = {"A": (slice(0, GROUP_SIZE), 0), "B": (slice(GROUP_SIZE, n), 1)}
            hint = ""
            same_everywhere = all(
                float(
                    torch.nn.functional.cosine_similarity(
                        u_hat[0, :GROUP_SIZE, j].mean(0),
                        u_hat[0, GROUP_SIZE:, j].mean(0),
                        dim=0,
                    )
                )
                > 0.9
                for j in (0, 1)
            )
            if same_everywhere:
                hint = (
                    "both groups say the same thing at both parents, so every child agrees with both parents "
                    "alike and its couplings cannot move from 1/2; give each group its own parent"
                )
            for name, (rows, own) in [] if hint else groups.items():
                other = 1 - own
                if _resultant(u_hat[0, rows, own]) < 0.9:
                    hint = (
                        f"group {name}'s predictions for parent {own} should agree: point them the same way "
                        f"(they agree to {_resultant(u_hat[0, rows, own]):.2f} of 1)"
                    )
                    break
                rival = groups["B" if name == "A" else "A"][0]
                mean_here, mean_rival = (
                    u_hat[0, rows, other].mean(0),
                    u_hat[0, rival, other].mean(0),
                )
                if float(mean_here @ mean_rival) > 0.25:
                    hint = (
                        f"group {name}'s predictions for parent {other} agree with the other group's there, "
                        f"so parent {other} wants group {name} too: make them cancel, or point them away"
                    )
                    break
                if _resultant(u_hat[0, rows, other]) > 0.5:
                    hint = (
                        f"group {name} agrees at parent {other} as well as at parent {own}, so its couplings "
                        f"stay near 1/2: a child moves towards the parent where it agrees more; make group "
                        f"{name}'s predictions for parent {other} cancel"
                    )
                    break
            report.expect(
                bool((to_own > 0.75).all()),
                "after 3 iterations each child sends more than 0.75 of itself to its own parent",
                f"the couplings to the own parent are {[round(x, 2) for x in to_own.tolist()]}"
                + (f"; {hint}" if hint else ""),
            )
    return report


# ---------------------------------------------------------------------------------------------
# Exercise 5.4: a child that routes to the wrong parent
# ---------------------------------------------------------------------------------------------
CLUSTER_DIRECTIONS = ((1.0, 0.0), (0.0, 1.0))
"""Where the clusters of Exercise 5.4 point: parent 0's along x, parent 1's along y."""


def wrong_parent_predictions() -> torch.Tensor:
    """The other children of Exercise 5.4: ``u_hat`` ``(1, 8, 2, 2)``, every prediction of length 1.

    Children 0-3 agree at parent 0 (all predict ``(1, 0)``) and spread out
    at parent 1 (four directions at 45, 135, 225 and 315 degrees, which
    cancel); children 4-7 agree at parent 1 (``(0, 1)``) and spread out at
    parent 0.  The child of the exercise is added in front of them.
    """
    angles = torch.deg2rad(
        torch.tensor([45.0, 135.0, 225.0, 315.0], dtype=torch.float64)
    )
    spread = torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1)
    u_hat = torch.zeros(1, 8, 2, 2, dtype=torch.float64)
    u_hat[0, :4, 0], u_hat[0, :4, 1] = (
        torch.tensor(CLUSTER_DIRECTIONS[0], dtype=torch.float64),
        spread,
    )
    u_hat[0, 4:, 1], u_hat[0, 4:, 0] = (
        torch.tensor(CLUSTER_DIRECTIONS[1], dtype=torch.float64),
        spread,
    )
    return u_hat


def reference_wrong_parent(u_hat_others: torch.Tensor) -> torch.Tensor:
    """A vote for parent 1 at 90 degrees from parent 1's cluster, 5 times as long."""
    return torch.tensor([5.0, 0.0], dtype=u_hat_others.dtype)


def _route_with_child(vote: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    child = torch.stack(
        [torch.tensor(CLUSTER_DIRECTIONS[0], dtype=torch.float64), vote]
    )[None, None]
    _, c = cf.dynamic_routing(
        torch.cat([child, others], dim=1), 3, return_couplings=True
    )
    return c[0, 0]  # the child's couplings (to parent 0, 1)


@guarded
def check_wrong_parent(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 5.4: ``fn(u_hat_others)`` returns a child's prediction for parent 1 that misroutes it.

    ``u_hat_others``: :func:`wrong_parent_predictions`.  The child predicts
    ``(1, 0)`` for parent 0, exactly what parent 0's cluster says; the answer
    is its prediction for parent 1, ``(2,)``, which must point at least 60
    degrees away from parent 1's cluster ``(0, 1)``.  Passed if, after 3
    iterations of :func:`capslib.functional.dynamic_routing`, the child is
    coupled more to parent 1 than to parent 0.
    """
    others = wrong_parent_predictions()
    towards_1 = torch.tensor(CLUSTER_DIRECTIONS[1], dtype=torch.float64)
    with check(
        "Exercise 5.4: a child that routes to the wrong parent", verbose=verbose
    ) as report:
        with report.attempt("runs on the other children's predictions"):
            vote = torch.as_tensor(fn(others.clone())).double()
            if not report.expect(
                tuple(vote.shape) == (2,),
                "returns one 2-D prediction, shape (2,)",
                f"got shape {tuple(vote.shape)}: return the child's prediction for parent 1 only",
            ):
                return report
            length = float(vote.norm())
            cosine = float(vote @ towards_1) / max(length, 1e-12)
            if not report.expect(
                length > 0 and cosine <= 0.5 + 1e-6,
                "points at least 60 degrees away from parent 1's cluster",
                f"the angle is {math.degrees(math.acos(max(-1.0, min(1.0, cosine)))):.0f} degrees: "
                "a vote along parent 1's cluster is agreement, not a trick; turn it at least 60 "
                "degrees away from (0, 1)",
            ):
                return report
            c = _route_with_child(vote, others)
            hint = (
                (
                    f"with a vote of length {length:.2f} the child still sends {float(c[0]):.2f} of itself to "
                    "parent 0. Agreement is the dot product u_hat . v, not a cosine: what does a longer vote do "
                    "to parent 1's sum s_1, to v_1, and then to the agreement?"
                )
                if length < 3
                else (
                    f"the couplings are {float(c[0]):.2f} to parent 0 and {float(c[1]):.2f} to parent 1: "
                    "a vote pointing straight away from parent 1's cluster must be longer than one at 60-90 degrees"
                )
            )
            report.expect(
                bool(c[1] > c[0]),
                "after 3 iterations the child is coupled more to parent 1 than to parent 0",
                hint,
            )
    return report

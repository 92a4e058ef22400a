"""Checks for the exercises of chapter 6 (the margin and reconstruction losses).

Each check compares the reader's function with the tested
:mod:`capslib.functional` version on inputs chosen so that the usual mistakes
show: averaging the margin loss over the classes instead of summing, putting
``lambda`` on the wrong term, scaling the *mean* squared error instead of the
sum (784 times weaker on MNIST), masking with the prediction during training.
"""
from __future__ import annotations

import torch

from .. import functional as F
from .report import CheckReport, check

__all__ = ["check_margin_loss", "check_reconstruction_loss", "check_mask_capsules",
           "reference_margin_loss", "reference_reconstruction_loss", "reference_mask_capsules"]


def _as_scalar(value) -> torch.Tensor:
    out = torch.as_tensor(value, dtype=torch.float64)
    if out.numel() != 1:
        raise ValueError(f"expected a scalar loss, got a tensor of shape {tuple(out.shape)}")
    return out.reshape(())


def check_margin_loss(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 6.1: ``fn(lengths, targets)`` is the margin loss of Eq. 4 with the paper's constants.

    ``lengths``: ``(batch, 10)`` in [0, 1); ``targets``: class indices
    ``(batch,)``; the answer: a scalar, summed over the classes and averaged
    over the batch (m+ = 0.9, m- = 0.1, lambda = 0.5).
    """
    gen = torch.Generator().manual_seed(6)
    lengths = torch.rand(8, 10, generator=gen, dtype=torch.float64) * 0.999
    targets = torch.randint(0, 10, (8,), generator=gen)
    expected = F.margin_loss(lengths, targets)
    # hand-made cases: a perfect answer costs nothing; each term on its own
    perfect = torch.full((1, 10), 0.05, dtype=torch.float64)
    perfect[0, 3] = 0.95
    only_present = torch.zeros(1, 10, dtype=torch.float64)          # true class 0 at length 0: (0.9)^2 = 0.81
    only_absent = torch.full((1, 10), 0.1, dtype=torch.float64)     # true class long, one absent class at 0.6
    only_absent[0, 0], only_absent[0, 1] = 0.9, 0.6                 # 0.5 * (0.6 - 0.1)^2 = 0.125
    with check("Exercise 6.1: the margin loss", verbose=verbose) as report:
        with report.attempt("runs on a batch of 8"):
            out = _as_scalar(fn(lengths, targets))
            report.expect(torch.allclose(out, expected.reshape(()), atol=1e-6),
                          "equals capslib.functional.margin_loss on a random batch",
                          f"got {out.item():.5f}, expected {expected.item():.5f}; sum the 10 class terms of each "
                          "example, then average over the batch")
        with report.attempt("hand-made cases"):
            report.expect(abs(_as_scalar(fn(perfect, torch.tensor([3]))).item()) < 1e-9,
                          "a confident correct answer (true 0.95, others 0.05) costs 0",
                          "both terms are clamped at zero: max(0, m+ - |v|) and max(0, |v| - m-)")
            got = _as_scalar(fn(only_present, torch.tensor([0]))).item()
            report.expect(abs(got - 0.81) < 1e-6, "a missing true capsule (length 0) costs (0.9)^2 = 0.81",
                          f"got {got:.4f}; the present term has no lambda: T_k max(0, 0.9 - |v_k|)^2")
            got = _as_scalar(fn(only_absent, torch.tensor([0]))).item()
            report.expect(abs(got - 0.125) < 1e-6, "one absent capsule at 0.6 costs 0.5 * (0.6 - 0.1)^2 = 0.125",
                          f"got {got:.4f}; lambda = 0.5 multiplies the absent term only")
    return report


def check_reconstruction_loss(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 6.2: ``fn(reconstructions, images)`` is the paper's reconstruction loss.

    Both ``(batch, 1, 28, 28)``; the answer: 0.0005 times the *sum* of squared
    pixel differences of each image, averaged over the batch.
    """
    gen = torch.Generator().manual_seed(62)
    images = torch.rand(4, 1, 28, 28, generator=gen)
    reconstructions = torch.rand(4, 1, 28, 28, generator=gen)
    expected = F.reconstruction_loss(reconstructions, images).double()
    one = torch.zeros(1, 1, 28, 28)
    one_pixel_off = one.clone()
    one_pixel_off[0, 0, 5, 5] = 1.0                                 # one pixel wrong by 1: 0.0005 * 1
    with check("Exercise 6.2: the reconstruction loss", verbose=verbose) as report:
        with report.attempt("runs on a batch of 4"):
            out = _as_scalar(fn(reconstructions, images))
            ratio = (expected / out).item() if out.item() != 0 else float("inf")
            hint = f"got {out.item():.6f}, expected {expected.item():.6f}"
            if abs(ratio - 784) < 1:
                hint += ": 784 times too small, you averaged over the pixels (the MSE) instead of summing them"
            elif abs(ratio - 1 / 4) < 1e-3:
                hint += ": 4 times too large, average over the batch rather than summing over it"
            report.expect(torch.allclose(out, expected.reshape(()), rtol=1e-5),
                          "equals capslib.functional.reconstruction_loss on a random batch", hint)
            got = _as_scalar(fn(one_pixel_off, one)).item()
            report.expect(abs(got - 0.0005) < 1e-9, "one pixel wrong by 1 costs 0.0005 (the scale times 1^2)",
                          f"got {got:.3g}; the loss is 0.0005 x the SUM of squared differences")
            report.expect(abs(_as_scalar(fn(images, images)).item()) < 1e-12, "a perfect reconstruction costs 0",
                          "use (reconstructions - images) ** 2")
    return report


def check_mask_capsules(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 6.3: ``fn(poses, labels=None)`` masks the class capsules for the decoder.

    ``poses``: ``(batch, 10, 16)``; ``labels``: ``(batch,)`` class indices or
    ``None``.  The answer: ``(batch, 10, 16)``, zero everywhere except the
    capsule of the true label (training) or, when ``labels`` is ``None``, the
    longest capsule (test time).
    """
    gen = torch.Generator().manual_seed(63)
    poses = torch.randn(6, 10, 16, generator=gen) * 0.2
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    longest = poses.norm(dim=-1).argmax(dim=1)
    labels = torch.where(labels == longest, (labels + 1) % 10, labels)  # labels never equal the prediction
    before = poses.clone()
    with check("Exercise 6.3: masking the class capsules", verbose=verbose) as report:
        with report.attempt("masks with the labels (training)"):
            out = torch.as_tensor(fn(poses, labels))
            report.expect(tuple(out.shape) == (6, 10, 16), "returns (batch, 10, 16)",
                          f"got shape {tuple(out.shape)}; keep the capsule axis, zero the other capsules")
            expected = reference_mask_capsules(poses, labels)
            report.expect(tuple(out.shape) == (6, 10, 16) and torch.allclose(out, expected),
                          "with labels, keeps the true class's capsule and zeros the others",
                          "in training the decoder sees the TRUE label's capsule, even when the network is wrong")
        with report.attempt("masks with the prediction (test)"):
            out = torch.as_tensor(fn(poses, None))
            expected = reference_mask_capsules(poses, None)
            report.expect(tuple(out.shape) == (6, 10, 16) and torch.allclose(out, expected),
                          "without labels, keeps the longest capsule",
                          "at test time use the prediction: argmax of the capsule lengths over the 10 classes")
        report.expect(torch.equal(poses, before), "leaves the poses unchanged", "multiply by a mask, not in place")
    return report


# -- reference answers (used by the tests and shown in the hidden solutions) ---
def reference_margin_loss(lengths, targets, m_plus=0.9, m_minus=0.1, lambda_=0.5):
    t = torch.nn.functional.one_hot(targets, lengths.shape[1]).to(lengths.dtype)
    present = t * torch.clamp(m_plus - lengths, min=0) ** 2
    absent = lambda_ * (1 - t) * torch.clamp(lengths - m_minus, min=0) ** 2
    return (present + absent).sum(dim=1).mean()


def reference_reconstruction_loss(reconstructions, images, scale=0.0005):
    return scale * ((reconstructions - images) ** 2).flatten(1).sum(dim=1).mean()


def reference_mask_capsules(poses, labels=None):
    chosen = labels if labels is not None else poses.norm(dim=-1).argmax(dim=1)
    return poses * torch.nn.functional.one_hot(chosen, poses.shape[1]).unsqueeze(-1).to(poses.dtype)

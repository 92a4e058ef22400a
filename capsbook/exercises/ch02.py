"""Checks for the exercises of chapter 2 (what pooling throws away).

Each ``check_*`` takes the reader's function, runs it against values that
:mod:`capslib` and PyTorch compute, prints what passed and what did not, and
returns a :class:`~capsbook.exercises.report.CheckReport`.  The
``reference_*`` functions are the solutions (the tests run every check on them).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from capsbook import faces
from capsbook.pooling import shift_images

from .report import CheckReport, check, guarded


def reference_pooled_shares(images: torch.Tensor, dx: int) -> tuple[float, float]:
    """Shift ``images (n, 1, H, W)`` by ``dx`` pixels right (``dx`` even) and compare
    their 2x2 max-pooled maps, over the values not zero before or after:
    the share unchanged in place, and the share equal to the unshifted pooled map
    moved ``dx // 2`` cells right."""
    after = F.max_pool2d(shift_images(images, dx, 0), 2)
    before = F.max_pool2d(images, 2)
    shares = []
    for reference in (before, shift_images(before, dx // 2, 0)):
        active = (reference != 0) | (after != 0)
        shares.append(float((reference == after)[active].float().mean()))
    return shares[0], shares[1]


def _shares_over_all_values(images, dx):
    """The mistake of counting the background too (what stays 0 is trivially unchanged)."""
    after = F.max_pool2d(shift_images(images, dx, 0), 2)
    before = F.max_pool2d(images, 2)
    return tuple(
        float((reference == after).float().mean())
        for reference in (before, shift_images(before, dx // 2, 0))
    )


@guarded
def check_pooled_shares(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 2.1: ``fn(images, dx)`` returns ``(in_place, moved)`` for a shift by ``dx`` pixels:
    the shares of the non-background 2x2 max-pooled values that are unchanged in place, and
    that equal the unshifted pooled map moved ``dx // 2`` cells.

    Checked against :func:`reference_pooled_shares` on sparse random images, for ``dx`` = 2 and 4.
    """
    generator = torch.Generator().manual_seed(2)
    images = torch.rand(6, 1, 12, 12, generator=generator)
    images = images * (torch.rand(6, 1, 12, 12, generator=generator) < 0.3)
    with check("Exercise 2.1: pooled values after a shift", verbose=verbose) as report:
        for dx in (2, 4):
            expected = reference_pooled_shares(images, dx)
            with report.attempt(f"runs with dx={dx}"):
                out = fn(images.clone(), dx)
                if not report.expect(
                    isinstance(out, (tuple, list)) and len(out) == 2,
                    f"returns two shares for dx={dx}",
                    f"got {type(out).__name__}: return (in_place, moved)",
                ):
                    return report
                in_place, moved = (float(value) for value in out)
                if abs(in_place - _shares_over_all_values(images, dx)[0]) < 1e-6:
                    hint = (
                        "you counted every pooled value; count only those that are not "
                        "zero before or after the shift (background that stays "
                        "background is trivially unchanged)"
                    )
                elif in_place > 1:
                    hint = "a share lies between 0 and 1, not in percent"
                else:
                    hint = (
                        "compare F.max_pool2d(images, 2) with the pooled shifted "
                        "images, place by place, where either is not zero"
                    )
                report.expect(
                    abs(in_place - expected[0]) < 1e-6,
                    f"the share unchanged in place for dx={dx}",
                    hint,
                )
                wrong_cells = _share_equal_to_moved_map(images, dx, dx)
                if abs(moved - wrong_cells) > 1e-6:
                    hint = (
                        "move the unshifted pooled map with shift_images(pooled, dx // 2, 0)"
                        " and compare it with the pooled shifted images"
                    )
                else:
                    hint = (
                        f"you moved the pooled map {dx} cells: a pooled cell spans 2 "
                        f"pixels, so a {dx}-pixel shift moves it {dx // 2}"
                    )
                report.expect(
                    abs(moved - expected[1]) < 1e-6,
                    f"the share equal to the pooled map moved {dx // 2} cell(s)",
                    hint,
                )
    return report


def _share_equal_to_moved_map(images, dx: int, cells: int) -> float:
    """The second share of :func:`reference_pooled_shares`, the map moved ``cells`` cells."""
    after = F.max_pool2d(shift_images(images, dx, 0), 2)
    reference = shift_images(F.max_pool2d(images, 2), cells, 0)
    active = (reference != 0) | (after != 0)
    return float((reference == after)[active].float().mean())


def reference_same_average_pooled(pooled: torch.Tensor) -> torch.Tensor:
    """An image (2h, 2w) in [0, 1] that 2x2 average-pools to pooled (h, w), other
    than pooled repeated: in each window, one pixel gains what another loses."""
    x = pooled.repeat_interleave(2, 0).repeat_interleave(2, 1).clone()
    # half of what a pixel of each window can gain or lose and stay in [0, 1]
    room = 0.5 * torch.minimum(pooled, 1 - pooled)
    room = room.repeat_interleave(2, 0).repeat_interleave(2, 1)
    x[::2, ::2] += room[::2, ::2]  # the top-left pixel of each window gains ...
    x[1::2, 1::2] -= room[1::2, 1::2]  # ... what the bottom-right one loses
    return x


@guarded
def check_same_average_pooled(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 2.2: ``fn(pooled)`` builds an input that 2x2 *average*-pools to ``pooled (h, w)``,
    other than the obvious one, and that is still an image (values in [0, 1]).

    The obvious input repeats each pooled value over its window; the answer must
    differ from it in every window, which shows that average pooling, too,
    cannot tell the two apart.
    """
    pooled = 0.2 + 0.6 * torch.rand(
        3, 4, generator=torch.Generator().manual_seed(5)
    )  # room on both sides
    obvious = pooled.repeat_interleave(2, 0).repeat_interleave(2, 1)
    with check(
        "Exercise 2.2: a different input, the same average-pooled output",
        verbose=verbose,
    ) as report:
        with report.attempt("runs on a (3, 4) pooled map"):
            x = torch.as_tensor(fn(pooled.clone())).float()
            if not report.expect(
                tuple(x.shape) == (6, 8),
                "returns a (6, 8) input",
                f"got {tuple(x.shape)}: every pooled value comes from a 2x2 window",
            ):
                return report
            means = F.avg_pool2d(x[None, None], 2)[0, 0]
            maxima = F.max_pool2d(x[None, None], 2)[0, 0]
            if torch.allclose(maxima, pooled, atol=1e-5) and not torch.allclose(
                means, pooled, atol=1e-5
            ):
                hint = (
                    "that input has the right *maximum* in each window (the max-pooling construction); "
                    "average pooling keeps the *mean*: what you add to one pixel, take from another"
                )
            else:
                hint = "the four values of each window must average to its pooled value"
            report.expect(
                torch.allclose(means, pooled, atol=1e-5),
                "average-pools to exactly the given output",
                hint,
            )
            differs = (x - obvious).abs().view(3, 2, 4, 2).amax(dim=(1, 3)) > 1e-6
            report.expect(
                bool(differs.all()),
                "differs from the obvious input in every window",
                f"{int((~differs).sum())} of 12 windows are the pooled value repeated; "
                "move some ink from one pixel of each window to another",
            )
            report.expect(
                bool((x >= 0).all() and (x <= 1).all()),
                "is still an image: values in [0, 1]",
                f"values from {float(x.min()):.2f} to {float(x.max()):.2f}: change each pixel by less than "
                "its distance to 0 and to 1",
            )
    return report


def reference_arrangement_training_set(
    n_each: int, n_scrambled: int, seed: int
) -> faces.FaceDataset:
    """n_each faces (label 1), n_each non-faces and n_scrambled scrambled faces
    (label 0: a scrambled face is not a face)."""
    return faces.make_face_dataset(n_each, n_each, n_scrambled, seed=seed)


@guarded
def check_arrangement_training_set(fn, *, verbose: bool = True) -> CheckReport:
    """Exercise 2.3: ``fn(n_each, n_scrambled, seed)`` returns a :class:`capsbook.faces.FaceDataset` of
    ``n_each`` faces, ``n_each`` non-faces and ``n_scrambled`` scrambled faces, labelled 1 for a face only.

    Also checked: the same seed gives the same images, another seed other scrambled faces.
    """
    n_each, n_scrambled = 40, 30
    data, counts = None, [0, 0, 0]
    with check(
        "Exercise 2.3: a training set that demands the arrangement", verbose=verbose
    ) as report:
        with report.attempt(
            f"runs with n_each={n_each}, n_scrambled={n_scrambled}, seed=3"
        ):
            data = fn(n_each, n_scrambled, 3)
            if not report.expect(
                isinstance(data, faces.FaceDataset),
                "returns a FaceDataset",
                f"got {type(data).__name__}; capsbook.faces.make_face_dataset returns one, and "
                "FaceDataset.concatenate joins several",
            ):
                return report
            counts = [
                int((data.kinds == kind).sum())
                for kind in (faces.FACE, faces.NON_FACE, faces.SCRAMBLED)
            ]
            expected = [n_each, n_each, n_scrambled]
            if counts[2] == 0:
                hint = "there is no scrambled face in it: make_face_dataset takes n_scrambled as its third argument"
            else:
                hint = f"got {counts[0]} faces, {counts[1]} non-faces, {counts[2]} scrambled faces"
            report.expect(
                counts == expected,
                f"{n_each} faces, {n_each} non-faces, {n_scrambled} scrambled faces",
                hint,
            )
            scrambled_labels = data.labels[data.kinds == faces.SCRAMBLED]
            if scrambled_labels.numel() and bool((scrambled_labels == 1).any()):
                hint = (
                    "scrambled faces are labelled 'face': label them 0, not a face; that is what makes "
                    "the arrangement matter to the detector"
                )
            else:
                hint = "label 1 for a face and 0 for everything else (non-faces and scrambled faces)"
            report.expect(
                torch.equal(data.labels, (data.kinds == faces.FACE).long()),
                "label 1 for the faces only, 0 for non-faces and scrambled faces",
                hint,
            )
        if data is None or not isinstance(data, faces.FaceDataset):
            return report
        with report.attempt("is reproducible from its seed"):
            again, other = fn(n_each, n_scrambled, 3), fn(n_each, n_scrambled, 4)
            report.expect(
                torch.equal(again.images, data.images),
                "the same seed gives the same images",
                "draw every image from the seed (capsbook.faces' functions take seed=...)",
            )
            if counts[2] and int((other.kinds == faces.SCRAMBLED).sum()) == counts[2]:
                same = torch.equal(
                    other.images[other.kinds == faces.SCRAMBLED],
                    data.images[data.kinds == faces.SCRAMBLED],
                )
                report.expect(
                    not same,
                    "another seed gives other scrambled faces",
                    "the scrambled faces ignore the seed: pass it on, so that a held-out set can differ",
                )
    return report


__all__ = [
    "check_arrangement_training_set",
    "check_same_average_pooled",
    "check_pooled_shares",
    "reference_arrangement_training_set",
    "reference_same_average_pooled",
    "reference_pooled_shares",
]

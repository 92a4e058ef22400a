"""Exercise checks of chapter 2: typical wrong answers fail on the property they break, with the hint
that names the mistake.  (Every check's reference solution and unfinished stub: tests/capsbook/exercises/test_checks.py.)"""

import torch
import torch.nn.functional as F
from check_reports import fails_on, hint_of

from capsbook.exercises import ch02
from capsbook.pooling import shift_images


def test_pooled_shares_reference_and_typical_mistakes():
    assert ch02.check_pooled_shares(ch02.reference_pooled_shares).passed

    def every_value(images, dx):  # the background counted too
        after = F.max_pool2d(shift_images(images, dx, 0), 2)
        before = F.max_pool2d(images, 2)
        moved = shift_images(before, dx // 2, 0)
        return float((before == after).float().mean()), float(
            (moved == after).float().mean()
        )

    assert "not zero before or after" in hint_of(
        ch02.check_pooled_shares(every_value, verbose=False), "unchanged in place"
    )

    def moved_dx_cells(images, dx):  # the map moved by dx cells, not dx // 2
        in_place, _ = ch02.reference_pooled_shares(images, dx)
        after = F.max_pool2d(shift_images(images, dx, 0), 2)
        reference = shift_images(F.max_pool2d(images, 2), dx, 0)
        active = (reference != 0) | (after != 0)
        return in_place, float((reference == after)[active].float().mean())

    report = fails_on(
        ch02.check_pooled_shares(moved_dx_cells, verbose=False), "moved 1 cell"
    )
    assert "spans 2 pixels" in hint_of(report, "moved 1 cell")


def test_pooled_shares_by_hand():
    # one pixel of ink at column 1: a 2-px shift takes it from pooled cell 0 to cell 1
    image = torch.zeros(1, 1, 2, 4)
    image[0, 0, 0, 1] = 1.0
    in_place, moved = ch02.reference_pooled_shares(image, 2)
    # before: cells (1, 0), after: (0, 1): two active cells, neither unchanged in place
    assert in_place == 0.0 and moved == 1.0


def test_same_average_pooled_reference_and_typical_mistakes():
    assert ch02.check_same_average_pooled(ch02.reference_same_average_pooled).passed
    obvious = lambda pooled: pooled.repeat_interleave(2, 0).repeat_interleave(2, 1)  # noqa: E731
    report = fails_on(
        ch02.check_same_average_pooled(obvious, verbose=False),
        "differs from the obvious",
    )
    assert report.failures == ["differs from the obvious input in every window"]

    def max_construction(
        pooled,
    ):  # chapter 2's answer for max pooling: the maximum in one corner
        x = (pooled / 2).repeat_interleave(2, 0).repeat_interleave(2, 1)
        x[::2, ::2] = pooled
        return x

    assert "*maximum*" in hint_of(
        ch02.check_same_average_pooled(max_construction, verbose=False), "average-pools"
    )

    def too_far(pooled):  # right means, but pixels below 0 and above 1
        x = pooled.repeat_interleave(2, 0).repeat_interleave(2, 1).clone()
        x[::2, ::2] += 1.0
        x[1::2, 1::2] -= 1.0
        return x

    report = ch02.check_same_average_pooled(too_far, verbose=False)
    assert report.failures == ["is still an image: values in [0, 1]"]
    assert report.failed_on("values in [0, 1]") and "distance to 0 and to 1" in hint_of(
        report, "values in"
    )
    fails_on(
        ch02.check_same_average_pooled(lambda pooled: pooled, verbose=False),
        "returns a (6, 8) input",
    )


def test_arrangement_training_set_reference_and_typical_mistakes():
    from capsbook import faces

    assert ch02.check_arrangement_training_set(
        ch02.reference_arrangement_training_set
    ).passed

    def scrambled_as_faces(n_each, n_scrambled, seed):
        data = faces.make_face_dataset(n_each, n_each, n_scrambled, seed=seed)
        data.labels = (data.kinds != faces.NON_FACE).long()
        return data

    report = ch02.check_arrangement_training_set(scrambled_as_faces, verbose=False)
    assert report.failures == [
        "label 1 for the faces only, 0 for non-faces and scrambled faces"
    ]
    assert "label them 0" in hint_of(report, "label 1")
    no_scrambled = lambda n_each, n_scrambled, seed: faces.make_face_dataset(
        n_each, n_each, seed=seed
    )  # noqa: E731
    report = ch02.check_arrangement_training_set(no_scrambled, verbose=False)
    assert "third argument" in hint_of(report, "scrambled faces")
    fixed = lambda n_each, n_scrambled, seed: faces.FaceDataset.concatenate(  # noqa: E731
        [
            faces.make_face_dataset(n_each, n_each, seed=seed),
            faces.make_scrambled_faces(n_scrambled, seed=2),
        ]
    )
    report = ch02.check_arrangement_training_set(fixed, verbose=False)
    assert report.failures == ["another seed gives other scrambled faces"]
    pair = lambda n_each, n_scrambled, seed: (  # noqa: E731
        ch02.reference_arrangement_training_set(n_each, n_scrambled, seed).images,
    )
    assert ch02.check_arrangement_training_set(pair, verbose=False).failures == [
        "returns a FaceDataset"
    ]

    def unseeded(n_each, n_scrambled, seed):
        return faces.make_face_dataset(
            n_each, n_each, n_scrambled, seed=int(torch.randint(100, ()))
        )

    assert ch02.check_arrangement_training_set(unseeded, verbose=False).failed_on(
        "the same seed"
    )

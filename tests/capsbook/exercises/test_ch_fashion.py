"""Exercise checks of the Fashion-MNIST appendix: the reference solution passes, a typical wrong answer fails
on the named point, and an unfinished stub is reported (one line), not raised."""

import pytest
import torch
from check_reports import hint_of, unfinished

from capsbook.exercises import ch_fashion
from capslib.nn import CapsuleDecoder

CHECKS = [
    ch_fashion.check_tweak_pose,
    ch_fashion.check_predict_with_iterations,
    ch_fashion.check_length_margin,
]


@pytest.mark.parametrize("check_fn", CHECKS, ids=lambda f: f.__name__)
def test_unfinished_stub_is_reported_not_raised(check_fn):
    report = check_fn(unfinished, verbose=False)
    assert not report.passed
    assert len(report.results) == 1 and "NotImplementedError" in str(report)


@pytest.mark.parametrize(
    "check_fn, number",
    list(zip(CHECKS, (1, 2, 3))),
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_titles_say_exercise_a_k(check_fn, number):
    """The appendix's exercises are Exercise A.1-A.3: the check's printed title says the same as the book."""
    assert check_fn(unfinished, verbose=False).title.startswith(
        f"Exercise A.{number}: "
    )


# -- Exercise A.1: tweak one pose dimension ----------------------------------------------------
def test_tweak_reference_by_hand():
    poses = torch.zeros(2, 3, 4)
    out = ch_fashion.reference_tweak_pose(poses, torch.tensor([2, 0]), 1, 0.5)
    expected = torch.zeros(2, 3, 4)
    expected[0, 2, 1] = expected[1, 0, 1] = 0.5
    assert torch.equal(out, expected) and torch.equal(poses, torch.zeros(2, 3, 4))


def test_tweak_for_the_whole_batch_is_named():
    def whole_batch(poses, labels, dim, delta):
        poses = poses.clone()
        poses[:, labels, dim] += delta
        return poses

    report = ch_fashion.check_tweak_pose(whole_batch, verbose=False)
    assert "torch.arange(n), labels" in hint_of(report, "moves dimension 1")


def test_tweak_that_sets_the_dimension_is_named():
    def set_it(poses, labels, dim, delta):
        poses = poses.clone()
        poses[torch.arange(len(poses)), labels, dim] = delta
        return poses

    report = ch_fashion.check_tweak_pose(set_it, verbose=False)
    assert "do not set it" in hint_of(report, "moves dimension 1")


def test_tweak_in_place_fails():
    def in_place(poses, labels, dim, delta):
        poses[torch.arange(len(poses)), labels, dim] += delta
        return poses

    assert not ch_fashion.check_tweak_pose(in_place, verbose=False).passed


def test_dimension_effects_finds_the_only_dimension_the_decoder_reads():
    torch.manual_seed(0)
    decoder = CapsuleDecoder(in_caps=3, caps_dim=4, hidden=(8,), out_shape=(1, 4, 4))
    with torch.no_grad():  # the first layer reads dimension 2 of each capsule only
        weight = decoder.layers[0].weight.view(8, 3, 4)
        weight[:, :, [0, 1, 3]] = 0
    poses = torch.randn(5, 3, 4)
    labels = torch.tensor([0, 1, 2, 0, 1])
    change = ch_fashion.dimension_effects(
        decoder, poses, labels, ch_fashion.reference_tweak_pose
    )
    assert change.shape == (5, 4)
    assert torch.equal(change[:, [0, 1, 3]], torch.zeros(5, 3))
    assert (change[:, 2] > 0).all()
    assert decoder.training  # left as it was found


# -- Exercise A.2: one routing iteration or three ------------------------------------------------
def test_iterations_reference_passes_and_restores():
    assert ch_fashion.check_predict_with_iterations(
        ch_fashion.reference_predict_with_iterations, verbose=False
    ).passed
    model = ch_fashion._tiny_capsnet()
    images = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(4))
    one = ch_fashion.reference_predict_with_iterations(model, images, 1)
    three = ch_fashion.reference_predict_with_iterations(model, images, 3)
    assert model.digit_caps.iterations == 3
    assert (one != three).sum() > 10  # the check's model: routing changes choices


def test_iterations_never_set_is_named():
    report = ch_fashion.check_predict_with_iterations(
        lambda model, images, k: model(images).lengths.argmax(1), verbose=False
    )
    assert "3-iteration predictions" in hint_of(report, "with 1 iteration")


def test_iterations_not_restored_is_named():
    def not_restored(model, images, k):
        model.digit_caps.iterations = k
        return model(images).lengths.argmax(1)

    report = ch_fashion.check_predict_with_iterations(not_restored, verbose=False)
    assert "finally" in hint_of(report, "3 iterations again afterwards (1)")
    assert not report.failed_on("predictions with 1")


# -- Exercise A.3: the margin of the longest capsule ---------------------------------------------
def test_length_margin_reference_by_hand():
    lengths = torch.tensor([[0.1, 0.8, 0.3], [0.4, 0.4, 0.2]])
    torch.testing.assert_close(
        ch_fashion.reference_length_margin(lengths), torch.tensor([0.5, 0.0])
    )


def test_length_margin_to_the_shortest_is_named():
    report = ch_fashion.check_length_margin(
        lambda lengths: lengths.max(1).values - lengths.min(1).values, verbose=False
    )
    assert "longest minus the shortest" in hint_of(report, "0.9 - 0.2")


def test_length_margin_over_the_images_is_named():
    report = ch_fashion.check_length_margin(
        lambda lengths: lengths.topk(2, dim=0).values[0], verbose=False
    )
    assert "dim=1" in hint_of(report, "one margin per image")


def test_length_margin_that_changes_its_input_fails():
    def in_place(lengths):
        top = lengths.sort(dim=1, descending=True).values
        lengths.zero_()  # the caller's lengths are gone
        return top[:, 0] - top[:, 1]

    assert not ch_fashion.check_length_margin(in_place, verbose=False).passed

"""The worked toys of chapters 3 and 5 (capslib.toy_capsules)."""
import math

import pytest
import torch

from capslib import toy_capsules as toy


def test_pose_matrix_hand_values():
    pose = toy.pose_matrix(1.0, -2.0, scale=2.0, angle=math.pi / 2)
    expected = torch.tensor([[0.0, -2.0, 1.0], [2.0, 0.0, -2.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(pose, expected, atol=1e-12, rtol=0)
    # it maps the local point (1, 0) to position + scale * rotated (1, 0) = (1, 0)
    torch.testing.assert_close(pose @ torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64),
                               torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64), atol=1e-12, rtol=0)


def test_pose_parameters_round_trip():
    params = torch.tensor([0.3, -0.7, 1.7, -2.1], dtype=torch.float64)
    recovered = toy.pose_parameters(toy.pose_matrix(*params.tolist()))
    torch.testing.assert_close(recovered, params)
    vector = toy.pose_vector(toy.pose_matrix(*params.tolist()))
    torch.testing.assert_close(vector, torch.tensor([0.3, -0.7, 1.7 * math.cos(-2.1), 1.7 * math.sin(-2.1)],
                                                    dtype=torch.float64))


def test_pose_matrix_rejects_non_positive_scale():
    with pytest.raises(ValueError, match="scale > 0"):
        toy.pose_matrix(0, 0, scale=0.0)


@pytest.mark.parametrize("face_pose", [(0, 0, 1, 0), (0.3, -0.2, 1.4, 0.7), (-0.5, 0.4, 0.6, -2.5)])
def test_parts_of_a_face_predict_that_face_exactly(face_pose):
    predictions = toy.predict_whole(toy.face_parts(*face_pose))
    assert predictions.shape == (len(toy.FACE_PARTS), 3, 3)
    for prediction in predictions:
        torch.testing.assert_close(prediction, toy.pose_matrix(*face_pose), atol=1e-12, rtol=0)
    assert toy.agreement_spread(predictions) < 1e-9


@pytest.mark.parametrize("seed", range(5))
def test_scrambled_parts_scatter(seed):
    parts = toy.face_parts(0.1, 0.0, 1.0, 0.2)
    scrambled = toy.scramble_parts(parts, seed=seed)
    # the same parts (scale and rotation kept), none in its own place
    for name in parts:
        torch.testing.assert_close(scrambled[name][:2, :2], parts[name][:2, :2])
        assert not torch.allclose(scrambled[name][:2, 2], parts[name][:2, 2])
    # positions are a permutation of the original ones
    original = sorted(tuple(p[:2, 2].tolist()) for p in parts.values())
    assert sorted(tuple(p[:2, 2].tolist()) for p in scrambled.values()) == original
    assert toy.agreement_spread(toy.predict_whole(scrambled)) > 0.3


def test_spread_grows_with_the_displacement_of_one_part():
    spreads = []
    for shift in [0.0, 0.1, 0.2, 0.4]:
        parts = toy.face_parts()
        parts["nose"] = parts["nose"].clone()
        parts["nose"][0, 2] += shift
        spreads.append(toy.agreement_spread(toy.predict_whole(parts)))
    assert spreads[0] < 1e-9
    assert all(a < b for a, b in zip(spreads, spreads[1:]))
    # one of 4 predictions moved by d: RMS distance from the mean is d * sqrt(3) / 4
    assert spreads[-1] == pytest.approx(0.4 * math.sqrt(3) / 4, rel=1e-9)


def test_jitter_is_small_reproducible_and_separates_from_scrambling():
    parts = toy.face_parts(0.2, 0.1, 1.0, 0.3)
    jittered = toy.jitter_parts(parts, position=0.03, angle=0.05, log_scale=0.05, seed=3)
    assert toy.jitter_parts(parts, seed=3).keys() == parts.keys()
    for name in parts:
        torch.testing.assert_close(jittered[name], toy.jitter_parts(parts, seed=3)[name])
        assert (jittered[name][:2, 2] - parts[name][:2, 2]).norm() < 0.2
    torch.testing.assert_close(toy.jitter_parts(parts, position=0, angle=0, log_scale=0)["nose"], parts["nose"])
    spreads_face = [toy.agreement_spread(toy.predict_whole(toy.jitter_parts(parts, seed=k))) for k in range(20)]
    spreads_scrambled = [toy.agreement_spread(toy.predict_whole(toy.jitter_parts(toy.scramble_parts(parts, seed=k),
                                                                                 seed=k))) for k in range(20)]
    assert 0 < max(spreads_face) < min(spreads_scrambled)
    with pytest.raises(ValueError, match=">= 0"):
        toy.jitter_parts(parts, position=-1.0)


def test_agreement_spread_hand_value():
    a, b = toy.pose_matrix(0, 0), toy.pose_matrix(2, 0)
    # vectors (0,0,1,0) and (2,0,1,0): each 1 from the mean
    assert toy.agreement_spread(torch.stack([a, b])) == pytest.approx(1.0)


def test_bad_inputs_name_what_was_expected():
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 3\)"):
        toy.agreement_spread(torch.zeros(4, 2, 2))
    with pytest.raises(ValueError, match="unknown"):
        toy.predict_whole({"tail": toy.pose_matrix(0, 0)})
    with pytest.raises(ValueError, match="at least 2 parts"):
        toy.scramble_parts({"nose": toy.pose_matrix(0, 0)})


def test_draw_face_predictions_draws_parts_and_predictions():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = toy.draw_face_predictions(toy.face_parts())
    # per part: its outline, its predicted face, its predicted centre
    assert len(ax.lines) == 3 * len(toy.FACE_PARTS)
    assert "spread = 0.000" in ax.get_title()
    plt.close(ax.figure)


def test_routing_toy_shapes_and_cluster():
    data = toy.routing_toy_predictions(n_agreeing=6, n_outliers=4, out_caps=3, seed=1)
    assert data.u_hat.shape == (1, 10, 3, 2)
    assert data.agreeing.tolist() == [True] * 6 + [False] * 4
    cluster = data.u_hat[0, data.agreeing, 0]
    assert (cluster - torch.tensor([0.9, 0.6])).norm(dim=-1).max() < 0.35
    outliers = data.u_hat[0, ~data.agreeing, 0]
    torch.testing.assert_close(outliers.norm(dim=-1), torch.full((4,), 0.9))
    # outliers point at least 90 degrees away from the cluster: negative dot product with its centre
    assert (outliers @ torch.tensor([0.9, 0.6]) <= 1e-6).all()
    # reproducible
    torch.testing.assert_close(toy.routing_toy_predictions(out_caps=3, seed=1).u_hat[:, :, :], data.u_hat)


def test_routing_on_the_toy_raises_the_agreeing_couplings():
    from capslib.functional import dynamic_routing

    data = toy.routing_toy_predictions(seed=0)
    _, c1 = dynamic_routing(data.u_hat, iterations=1, return_couplings=True)
    _, c5 = dynamic_routing(data.u_hat, iterations=5, return_couplings=True)
    torch.testing.assert_close(c1, torch.full_like(c1, 0.5))
    assert (c5[0, data.agreeing, 0] > 0.55).all()
    assert (c5[0, ~data.agreeing, 0] < 0.5).all()
    assert c5[0, data.agreeing, 0].mean() > c5[0, ~data.agreeing, 0].mean() + 0.5

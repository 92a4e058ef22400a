"""The worked toys of chapters 3 and 5 (capsbook.toy_capsules)."""

import math

import pytest
import torch

from capsbook import toy_capsules as toy


def test_pose_matrix_hand_values():
    pose = toy.pose_matrix(1.0, -2.0, scale=2.0, angle=math.pi / 2)
    expected = torch.tensor(
        [[0.0, -2.0, 1.0], [2.0, 0.0, -2.0], [0.0, 0.0, 1.0]], dtype=torch.float64
    )
    torch.testing.assert_close(pose, expected, atol=1e-12, rtol=0)
    # it maps the local point (1, 0) to position + scale * rotated (1, 0) = (1, 0)
    torch.testing.assert_close(
        pose @ torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64),
        torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64),
        atol=1e-12,
        rtol=0,
    )


def test_pose_parameters_round_trip():
    params = torch.tensor([0.3, -0.7, 1.7, -2.1], dtype=torch.float64)
    recovered = toy.pose_parameters(toy.pose_matrix(*params.tolist()))
    torch.testing.assert_close(recovered, params)
    vector = toy.pose_vector(toy.pose_matrix(*params.tolist()))
    torch.testing.assert_close(
        vector,
        torch.tensor(
            [0.3, -0.7, 1.7 * math.cos(-2.1), 1.7 * math.sin(-2.1)], dtype=torch.float64
        ),
    )


def test_pose_matrix_rejects_non_positive_scale():
    with pytest.raises(ValueError, match="scale > 0"):
        toy.pose_matrix(0, 0, scale=0.0)


@pytest.mark.parametrize(
    "face_pose", [(0, 0, 1, 0), (0.3, -0.2, 1.4, 0.7), (-0.5, 0.4, 0.6, -2.5)]
)
def test_parts_of_a_face_predict_that_face_exactly(face_pose):
    predictions = toy.predict_whole(toy.face_parts(*face_pose))
    assert predictions.shape == (len(toy.FACE_PARTS), 3, 3)
    for prediction in predictions:
        torch.testing.assert_close(
            prediction, toy.pose_matrix(*face_pose), atol=1e-12, rtol=0
        )
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
    jittered = toy.jitter_parts(
        parts, position=0.03, angle=0.05, log_scale=0.05, seed=3
    )
    assert toy.jitter_parts(parts, seed=3).keys() == parts.keys()
    for name in parts:
        torch.testing.assert_close(
            jittered[name], toy.jitter_parts(parts, seed=3)[name]
        )
        assert (jittered[name][:2, 2] - parts[name][:2, 2]).norm() < 0.2
    torch.testing.assert_close(
        toy.jitter_parts(parts, position=0, angle=0, log_scale=0)["nose"], parts["nose"]
    )
    spreads_face = [
        toy.agreement_spread(toy.predict_whole(toy.jitter_parts(parts, seed=k)))
        for k in range(20)
    ]
    spreads_scrambled = [
        toy.agreement_spread(
            toy.predict_whole(
                toy.jitter_parts(toy.scramble_parts(parts, seed=k), seed=k)
            )
        )
        for k in range(20)
    ]
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
    torch.testing.assert_close(
        toy.routing_toy_predictions(out_caps=3, seed=1).u_hat[:, :, :], data.u_hat
    )


def test_routing_on_the_toy_raises_the_agreeing_couplings():
    from capslib.functional import dynamic_routing

    data = toy.routing_toy_predictions(seed=0)
    _, c1 = dynamic_routing(data.u_hat, iterations=1, return_couplings=True)
    _, c5 = dynamic_routing(data.u_hat, iterations=5, return_couplings=True)
    torch.testing.assert_close(c1, torch.full_like(c1, 0.5))
    assert (c5[0, data.agreeing, 0] > 0.55).all()
    assert (c5[0, ~data.agreeing, 0] < 0.5).all()
    assert c5[0, data.agreeing, 0].mean() > c5[0, ~data.agreeing, 0].mean() + 0.5


# --- chapter 5: the face toy routed to two wholes ----------------------------------------------
def test_picasso_layout_is_the_same_parts_in_other_places():
    assert list(toy.PICASSO_PARTS) == list(toy.FACE_PARTS)
    for name, (x, y, scale, angle) in toy.PICASSO_PARTS.items():
        assert (scale, angle) == toy.FACE_PARTS[name][
            2:
        ]  # each part keeps its size and angle
        assert (x, y) != toy.FACE_PARTS[name][:2]  # ... and leaves its own place
    positions = sorted(params[:2] for params in toy.FACE_PARTS.values())
    assert sorted(params[:2] for params in toy.PICASSO_PARTS.values()) == positions


@pytest.mark.parametrize(
    "pose", [(0, 0, 1, 0), (0.2, -0.1, 1.1, 0.3), (-0.4, 0.3, 0.7, -2.0)]
)
def test_layout_argument_places_and_predicts_the_other_whole(pose):
    picasso = toy.face_parts(*pose, layout=toy.PICASSO_PARTS)
    transforms = toy.part_to_whole_transforms(toy.PICASSO_PARTS)
    for prediction in toy.predict_whole(picasso, transforms):
        torch.testing.assert_close(
            prediction, toy.pose_matrix(*pose), atol=1e-12, rtol=0
        )
    # seen as a face, the Picasso's parts disagree
    assert toy.agreement_spread(toy.predict_whole(picasso)) > 0.3


def test_embed_poses_dot_product_is_the_mean_cosine_of_the_phase_differences():
    poses = torch.stack(
        [toy.pose_matrix(0.1, 0.2, 1.0, 0.3), toy.pose_matrix(-0.2, 0.0, 0.8, 1.0)]
    )
    e = toy.embed_poses(poses, dim=8, length_scale=0.5, seed=3)
    assert e.shape == (2, 8) and e.dtype == torch.float64
    torch.testing.assert_close(e.norm(dim=-1), torch.ones(2, dtype=torch.float64))
    omega = (
        torch.randn(
            4, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64
        )
        / 0.5
    )
    difference = toy.pose_vector(poses[0]) - toy.pose_vector(poses[1])
    assert float(e[0] @ e[1]) == pytest.approx(
        float(torch.cos(omega @ difference).mean()), abs=1e-12
    )
    # the same seed gives the same embedding; another seed another one
    torch.testing.assert_close(
        toy.embed_poses(poses, dim=8, length_scale=0.5, seed=3), e
    )
    assert not torch.allclose(
        toy.embed_poses(poses, dim=8, length_scale=0.5, seed=4), e
    )


def test_embed_poses_approximates_a_gaussian_kernel_with_many_features():
    a, b = toy.pose_matrix(0.0, 0.0, 1.0, 0.0), toy.pose_matrix(0.1, -0.05, 1.0, 0.1)
    e = toy.embed_poses(torch.stack([a, b]), dim=20_000, length_scale=0.15, seed=0)
    distance = (toy.pose_vector(a) - toy.pose_vector(b)).norm()
    expected = math.exp(-(float(distance) ** 2) / (2 * 0.15**2))
    assert float(e[0] @ e[1]) == pytest.approx(expected, abs=0.02)


def test_embed_poses_of_distant_poses_are_nearly_orthogonal_on_average():
    generator = torch.Generator().manual_seed(0)
    params = torch.rand(200, 2, 4, generator=generator, dtype=torch.float64)
    poses = torch.stack(
        [
            torch.stack(
                [
                    toy.pose_matrix(
                        float(x) - 0.5, float(y) - 0.5, 0.5 + float(s), 6 * float(t)
                    )
                    for x, y, s, t in pair
                ]
            )
            for pair in params
        ]
    )
    e = toy.embed_poses(poses)  # (200, 2, 16)
    dots = (e[:, 0] * e[:, 1]).sum(-1)
    assert dots.mean().abs() < 0.05 and dots.abs().mean() < 0.3


def test_embed_poses_rejects_bad_arguments():
    with pytest.raises(ValueError, match="even dim"):
        toy.embed_poses(toy.pose_matrix(0, 0), dim=7)
    with pytest.raises(ValueError, match="length_scale > 0"):
        toy.embed_poses(toy.pose_matrix(0, 0), length_scale=0.0)
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 3\)"):
        toy.embed_poses(torch.zeros(4))


def test_whole_predictions_embed_each_parts_prediction_of_each_whole():
    parts = toy.face_parts(0.2, -0.1, 1.1, 0.3)
    u_hat = toy.whole_predictions(parts)
    assert u_hat.shape == (1, 4, 2, 16) and u_hat.dtype == torch.float32
    face_column = toy.embed_poses(toy.predict_whole(parts)).float()
    torch.testing.assert_close(u_hat[0, :, 0], face_column)
    # a real face: the four predictions of the face are one vector; those of the Picasso differ
    assert (u_hat[0, :, 0] - u_hat[0, :1, 0]).abs().max() < 1e-6
    picasso_dots = u_hat[0, :, 1] @ u_hat[0, :, 1].T
    assert picasso_dots[~torch.eye(4, dtype=torch.bool)].max() < 0.9
    with pytest.raises(ValueError, match="whole 'face'"):
        toy.whole_predictions({"tail": toy.pose_matrix(0, 0)})


def test_routing_the_face_toy_sends_the_parts_to_the_whole_they_form():
    from capslib.functional import dynamic_routing

    pose = (0.2, -0.1, 1.1, 0.3)
    for layout, winner in [(toy.FACE_PARTS, 0), (toy.PICASSO_PARTS, 1)]:
        u_hat = toy.whole_predictions(toy.face_parts(*pose, layout=layout))
        v, c = dynamic_routing(u_hat, 3, return_couplings=True)
        assert (c[0, :, winner] > 0.7).all()
        assert v[0, winner].norm() > 0.85 > 0.3 > v[0, 1 - winner].norm()


def test_routing_toy_outlier_arc_puts_the_outliers_on_one_side():
    data = toy.routing_toy_predictions(outlier_arc=(90.0, 150.0), seed=0)
    centre = torch.tensor([0.9, 0.6])
    outliers = data.u_hat[0, ~data.agreeing, 0]
    angles = torch.rad2deg(
        torch.atan2(outliers[:, 1], outliers[:, 0]) - torch.atan2(centre[1], centre[0])
    )
    angles = torch.remainder(angles, 360)
    assert ((angles >= 90 - 1e-4) & (angles <= 150 + 1e-4)).all()
    # the default arc is unchanged: anywhere at least 90 degrees away
    torch.testing.assert_close(
        toy.routing_toy_predictions(outlier_arc=(90.0, 270.0), seed=2).u_hat,
        toy.routing_toy_predictions(seed=2).u_hat,
    )
    with pytest.raises(ValueError, match="outlier_arc"):
        toy.routing_toy_predictions(outlier_arc=(150.0, 90.0))


def test_one_sided_outliers_turn_the_parents_output_and_routing_turns_it_back():
    from capslib.functional import dynamic_routing

    data = toy.routing_toy_predictions(outlier_arc=(90.0, 150.0), seed=0)
    cluster = data.u_hat[0, data.agreeing, 0].mean(0)

    def angle_to_cluster(iterations):
        v0 = dynamic_routing(data.u_hat, iterations)[0, 0]
        return math.degrees(
            math.acos(float(v0 @ cluster / (v0.norm() * cluster.norm())))
        )

    assert angle_to_cluster(1) > 20 and angle_to_cluster(5) < angle_to_cluster(1) / 2

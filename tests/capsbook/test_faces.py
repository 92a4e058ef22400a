"""The synthetic face dataset (capsbook.faces): shapes, seeds, and that each kind is what it claims."""

import math

import pytest
import torch

from capsbook import faces


@pytest.fixture(scope="module")
def three_kinds():
    return (
        faces.make_faces(60, seed=1),
        faces.make_non_faces(60, seed=1),
        faces.make_scrambled_faces(60, seed=1),
    )


def test_images_labels_and_kinds_have_the_documented_shapes_and_values(three_kinds):
    for dataset, label, kind in zip(
        three_kinds, (1, 0, 0), (faces.FACE, faces.NON_FACE, faces.SCRAMBLED)
    ):
        assert dataset.images.shape == (60, 1, 28, 28)
        assert dataset.images.dtype == torch.float32
        assert dataset.images.min() >= 0 and dataset.images.max() <= 1
        assert (
            dataset.images.flatten(1).amax(1).min() > 0.5
        )  # every image has visible strokes
        assert (dataset.labels == label).all() and dataset.labels.dtype == torch.int64
        assert (dataset.kinds == kind).all()
        assert dataset.part_centres.shape == (
            60,
            4,
            2,
        ) and dataset.face_poses.shape == (60, 4)
        image, target = dataset[3]
        assert image.shape == (1, 28, 28) and int(target) == label


def test_same_seed_same_images_other_seed_other_images():
    for make in (faces.make_faces, faces.make_non_faces, faces.make_scrambled_faces):
        a, b, c = make(20, seed=5), make(20, seed=5), make(20, seed=6)
        assert torch.equal(a.images, b.images)
        assert torch.equal(a.part_centres.nan_to_num(-1), b.part_centres.nan_to_num(-1))
        assert not torch.equal(a.images, c.images)


def test_other_sizes_are_drawn_at_that_size():
    big = faces.make_faces(4, size=40, seed=0)
    assert big.images.shape == (4, 1, 40, 40) and big.size == 40
    assert (
        big.face_poses[:, :2] - 19.5
    ).abs().max() <= faces.FaceStyle().max_centre_shift + 1e-5


def test_every_part_of_a_face_is_inked_at_its_recorded_centre(three_kinds):
    face = three_kinds[0]
    columns = face.part_centres[..., 0].round().long()
    rows = face.part_centres[..., 1].round().long()
    ink = face.images[torch.arange(60)[:, None], 0, rows, columns]  # (60, 4)
    assert ink.min() > 0.2


def test_faces_have_their_parts_in_a_face_arrangement(three_kinds):
    centres = three_kinds[0].part_centres
    eyes_y = centres[:, :2, 1].amax(1)
    assert (eyes_y < centres[:, 2, 1]).all() and (
        centres[:, 2, 1] < centres[:, 3, 1]
    ).all()
    assert (
        centres[:, 0, 0] < centres[:, 1, 0]
    ).all()  # left eye on the left (tilt is at most 10 degrees)


def test_scrambled_faces_hold_all_four_parts_but_never_the_mouth_in_its_place(
    three_kinds,
):
    face, _, scrambled = three_kinds
    assert not scrambled.part_centres.isnan().any()
    # the mouth's position in the face's frame is never the mouth slot
    offset = scrambled.part_centres[:, 3] - scrambled.face_poses[:, :2]
    tilt = torch.deg2rad(scrambled.face_poses[:, 3])
    frame_x = torch.cos(tilt) * offset[:, 0] + torch.sin(tilt) * offset[:, 1]
    frame_y = -torch.sin(tilt) * offset[:, 0] + torch.cos(tilt) * offset[:, 1]
    mouth_slot = faces.PART_SLOTS[3] * 28 * scrambled.face_poses[:, 2:3]
    distance = torch.hypot(frame_x - mouth_slot[:, 0], frame_y - mouth_slot[:, 1])
    assert distance.min() > 3.0
    # the same parts: the amount of ink of a scrambled face is that of a face, within a few percent
    ratio = (scrambled.images.sum() / scrambled.images.amax((1, 2, 3)).sum()) / (
        face.images.sum() / face.images.amax((1, 2, 3)).sum()
    )
    assert 0.93 < float(ratio) < 1.07


def test_scrambled_slots_are_permutations_that_move_the_mouth():
    slots = faces.scrambled_slots(500, torch.Generator().manual_seed(0))
    assert (slots.sort(dim=1).values == torch.arange(4)).all()
    assert (slots[:, 3] != 3).all()
    assert (
        len({tuple(row.tolist()) for row in slots}) == 18
    )  # all 4! - 3! permutations occur


def test_non_faces_never_hold_all_four_parts(three_kinds):
    non_face = three_kinds[1]
    present = ~non_face.part_centres[..., 0].isnan()
    assert (present.sum(1) < 4).all()
    assert (
        present.sum(1) >= 1
    ).sum() == 20  # a third are incomplete faces, with 1 to 3 parts
    assert non_face.face_poses[:, 0].isnan().sum() == 20  # a third have no oval


def test_make_face_dataset_mixes_and_labels_the_kinds():
    data = faces.make_face_dataset(30, 40, 10, seed=2)
    assert len(data) == 80
    assert [int((data.kinds == k).sum()) for k in range(3)] == [30, 40, 10]
    assert torch.equal(data.labels, (data.kinds == faces.FACE).long())
    assert (
        data.describe()
        == "synthetic faces (28x28): 30 faces, 40 non-faces, 10 scrambled faces"
    )
    assert len(data.of_kind(faces.SCRAMBLED)) == 10
    unshuffled = faces.make_face_dataset(30, 40, 10, seed=2, shuffle=False)
    assert torch.equal(unshuffled.kinds[:30], torch.zeros(30, dtype=torch.long))
    # adding scrambled faces leaves the faces and non-faces unchanged
    without = faces.make_face_dataset(30, 40, seed=2, shuffle=False)
    assert torch.equal(without.images, unshuffled.images[:70])


@pytest.mark.parametrize(
    "bad", [dict(n=-1), dict(n=2.5), dict(size=10), dict(seed=1.5)]
)
def test_bad_requests_are_refused_with_a_message(bad):
    arguments = dict(n=3, size=28, seed=0) | bad
    with pytest.raises((ValueError, TypeError), match="expected"):
        faces.make_faces(arguments.pop("n"), **arguments)


def test_style_ranges_are_validated_and_respected():
    with pytest.raises(ValueError, match="low <= high"):
        faces.FaceStyle(scale=(1.2, 1.0))
    still = faces.FaceStyle(
        max_centre_shift=0.0, scale=(1.0, 1.0), max_tilt=0.0, max_part_jitter=0.0
    )
    data = faces.make_faces(5, seed=0, style=still)
    assert torch.allclose(
        data.face_poses[:, :3], torch.tensor([13.5, 13.5, 1.0]).expand(5, 3)
    )
    expected_left_eye = torch.tensor([13.5, 13.5]) + faces.PART_SLOTS[0] * 28
    assert torch.allclose(
        data.part_centres[:, 0], expected_left_eye.expand(5, 2), atol=1e-4
    )
    assert math.isclose(float(data.face_poses[:, 3].abs().max()), 0.0, abs_tol=1e-6)


def test_home_positions_are_the_part_centres_of_a_still_face():
    still = faces.FaceStyle(max_part_jitter=0.0)
    data = faces.make_faces(8, seed=3, style=still)
    assert torch.allclose(faces.home_positions(data), data.part_centres, atol=1e-4)
    assert faces.part_displacements(data).max() < 1e-3


def test_part_displacements_of_faces_are_jitter_and_of_scrambled_faces_whole_slots(
    three_kinds,
):
    face, non_face, scrambled = three_kinds
    jitter = faces.FaceStyle().max_part_jitter
    assert faces.part_displacements(face).max() <= jitter * math.sqrt(2) + 1e-4
    moved = faces.part_displacements(scrambled)  # (60, 4)
    assert (moved[:, 3] > 3.0).all()  # the mouth always moves
    # by hand: the mouth moved to the left eye's place travels |(-0.13, -0.10) - (0, 0.20)| x 28 x scale
    slots = faces.scrambled_slots(60, torch.Generator().manual_seed(1))
    to_left_eye = slots[:, 3] == 0
    expected = math.hypot(0.13, 0.30) * 28 * scrambled.face_poses[to_left_eye, 2]
    assert torch.allclose(
        moved[to_left_eye, 3], expected, atol=jitter * math.sqrt(2) + 1e-4
    )
    # a part that stayed in its own place moved by the jitter only
    stayed = slots == torch.arange(4)
    assert (moved[stayed] <= jitter * math.sqrt(2) + 1e-4).all() and (
        moved[~stayed] > 3.0
    ).all()
    assert (
        faces.part_displacements(non_face)[non_face.face_poses[:, 0].isnan()]
        .isnan()
        .all()
    )  # no oval, no place


def test_train_face_detector_learns_faces_and_is_seeded():
    train = faces.make_face_dataset(600, 600, seed=4)
    test = faces.make_face_dataset(100, 100, seed=5)
    a = faces.train_face_detector(train, seed=1, epochs=5)
    b = faces.train_face_detector(train, seed=1, epochs=5)
    c = faces.train_face_detector(train, seed=2, epochs=1)
    for name, weight in a.state_dict().items():
        assert torch.equal(weight, b.state_dict()[name]), name
    assert not torch.equal(a.conv1.weight, c.conv1.weight)
    p = faces.face_probability(a, test.images)
    assert p.shape == (200,) and 0 <= p.min() and p.max() <= 1
    assert ((p > 0.5).long() == test.labels).float().mean() > 0.85
    unpooled = faces.train_face_detector(train, pooling="none", seed=1, epochs=1)
    assert unpooled.fc1.in_features == 8 * 28 * 28
    with pytest.raises(TypeError, match="FaceDataset"):
        faces.train_face_detector((train.images, train.labels))


def test_the_global_max_control_is_blind_to_where_patterns_are():
    from capsbook.faces.detector import BagOfFeaturesCNN

    torch.manual_seed(0)
    model = BagOfFeaturesCNN(2).eval()
    # 40 x 40, so that two patches are more than a receptive field apart and every patch
    # keeps 5 px from the borders (the zero padding of conv2 would tell it apart there)
    image = torch.zeros(1, 1, 40, 40)
    image[0, 0, 5:10, 5:9] = torch.rand(5, 4)  # a patch in the upper left
    image[0, 0, 25:30, 25:30] = torch.rand(5, 5)  # another, far from the first
    swapped = torch.zeros_like(image)  # the two patches trade places
    swapped[0, 0, 25:30, 25:29] = image[0, 0, 5:10, 5:9]
    swapped[0, 0, 5:10, 5:10] = image[0, 0, 25:30, 25:30]
    moved = torch.roll(image, shifts=(2, 1), dims=(2, 3))  # nothing reaches a border
    with torch.no_grad():
        logits = model(image)
        assert torch.allclose(model(swapped), logits, atol=1e-6)
        assert torch.allclose(model(moved), logits, atol=1e-6)
        # ... but not blind to what a window holds
        assert not torch.allclose(model(image.flip(2)), logits, atol=1e-4)
    assert BagOfFeaturesCNN.receptive_field == 9


def test_train_face_detector_trains_the_control_and_refuses_other_poolings():
    train = faces.make_face_dataset(100, 100, seed=4)
    control = faces.train_face_detector(train, pooling="global", seed=1, epochs=1)
    assert control.fc1.in_features == 8  # one number per feature map
    p = faces.face_probability(control, train.images)
    assert p.shape == (200,)
    with pytest.raises(ValueError, match="pooling"):
        faces.train_face_detector(train, pooling="avg-ish")


# --- layouts other than the standard one, and the choice of non-faces ---------------------------

SPACED = faces.FaceStyle(
    layout=faces.SPACED_LAYOUT, max_centre_shift=1.0, scale=(0.95, 1.0)
)


def _closest_ink_of_two_parts(dataset) -> float:
    """Smallest Chebyshev distance (pixels) between inked pixels nearest different parts."""
    worst = float("inf")
    for image, centres in zip(dataset.images[:, 0], dataset.part_centres):
        ys, xs = torch.nonzero(image > 0, as_tuple=True)
        points = torch.stack([xs, ys], 1).float()
        owner = torch.cdist(points, centres).argmin(1)
        chebyshev = (points[:, None] - points[None]).abs().amax(-1)
        worst = min(worst, float(chebyshev[owner[:, None] != owner[None]].min()))
    return worst


def test_spaced_parts_never_share_a_9x9_window():
    for make in (faces.make_faces, faces.make_scrambled_faces):
        data = make(120, seed=4, style=SPACED)
        assert data.face_poses[:, :2].sub(13.5).abs().max() <= 1.0 + 1e-5
        assert not data.part_centres.isnan().any()
        # a 9 x 9 window holds pixels at most 8 apart in x and in y
        assert _closest_ink_of_two_parts(data) >= 9


def test_spaced_faces_have_no_oval_and_the_corners_are_their_places():
    still = faces.FaceStyle(
        layout=faces.SPACED_LAYOUT,
        max_centre_shift=0.0,
        scale=(1.0, 1.0),
        max_tilt=0.0,
        max_part_jitter=0.0,
    )
    face = faces.make_faces(3, seed=0, style=still)
    corners = torch.tensor(faces.SPACED_LAYOUT.slots) * 28 + 13.5
    assert torch.allclose(face.part_centres, corners.expand(3, 4, 2), atol=1e-4)
    # no oval: the middle of the image, between the parts, holds no ink
    assert face.images[:, 0, 10:18, 10:18].max() == 0


def test_scrambled_slots_keep_the_parts_a_layout_does_not_move():
    layout = faces.FaceLayout(
        slots=faces.STANDARD_LAYOUT.slots,
        oval_radii=faces.STANDARD_LAYOUT.oval_radii,
        mouth_half_width=0.1,
        movable=(0, 1, 3),
    )
    slots = faces.scrambled_slots(300, torch.Generator().manual_seed(0), layout)
    assert (slots[:, 2] == 2).all() and (slots[:, 3] != 3).all()
    # (eye, eye, mouth) among three places with the mouth moved: 4 permutations
    assert len({tuple(row.tolist()) for row in slots}) == 4
    with pytest.raises(ValueError, match="mouth"):
        faces.FaceLayout(
            slots=layout.slots, oval_radii=None, mouth_half_width=0.1, movable=(0, 1)
        )


def test_the_standard_layout_is_the_default_drawing():
    assert faces.FaceStyle().layout == faces.STANDARD_LAYOUT
    assert torch.equal(torch.tensor(faces.STANDARD_LAYOUT.slots), faces.PART_SLOTS)
    explicit = faces.make_non_faces(30, seed=2, variants=faces.NON_FACE_VARIANTS)
    assert torch.equal(explicit.images, faces.make_non_faces(30, seed=2).images)


def test_half_a_face_holds_one_or_two_parts_and_other_variants_are_refused():
    half = faces.make_non_faces(90, seed=1, variants=("half a face",))
    present = (~half.part_centres[..., 0].isnan()).sum(1)
    assert present.min() == 1 and present.max() == 2
    with pytest.raises(ValueError, match="variants"):
        faces.make_non_faces(3, seed=0, variants=("a cat",))
    mixed = faces.make_face_dataset(
        20, 20, 10, seed=0, non_face_variants=("half a face",)
    )
    non_faces = mixed.of_kind(faces.NON_FACE)
    assert ((~non_faces.part_centres[..., 0].isnan()).sum(1) <= 2).all()

"""Small CNNs and the fit/evaluate loop (capsbook.classifiers)."""

import pytest
import torch
from torch import nn

import capsbook.classifiers
import capslib
from capsbook.classifiers import (
    SmallCNN,
    TrainingHistory,
    accuracy,
    affine_images,
    predict_proba,
    random_affine,
    train_classifier,
)
from capslib.nn import count_parameters


def test_small_cnn_shapes_and_feature_maps():
    model = SmallCNN(num_classes=10, channels=(4, 6), hidden=12)
    maps = model.feature_maps(torch.rand(3, 1, 28, 28))
    assert maps["conv1"].shape == (3, 4, 28, 28) and maps["pool1"].shape == (
        3,
        4,
        14,
        14,
    )
    assert maps["conv2"].shape == (3, 6, 14, 14) and maps["pool2"].shape == (3, 6, 7, 7)
    assert maps["hidden"].shape == (3, 12) and maps["logits"].shape == (3, 10)
    assert (maps["conv1"] >= 0).all()  # after the ReLU
    assert torch.equal(
        model(torch.zeros(2, 1, 28, 28)),
        model.feature_maps(torch.zeros(2, 1, 28, 28))["logits"],
    )


def test_parameter_count_matches_the_layer_formula():
    model = SmallCNN(num_classes=10, channels=(8, 16), hidden=64)
    expected = (
        (1 * 8 * 25 + 8) + (8 * 16 * 25 + 16) + (16 * 7 * 7 * 64 + 64) + (64 * 10 + 10)
    )
    assert count_parameters(model) == expected
    unpooled = SmallCNN(num_classes=2, channels=(8, 16), hidden=64, pooling="none")
    assert count_parameters(
        unpooled
    ) == expected - 16 * 7 * 7 * 64 + 16 * 28 * 28 * 64 - (64 * 8 + 8)


def test_pooling_kinds_pool_as_named():
    x = torch.rand(2, 1, 28, 28)
    for pooling, reference in (
        ("max", nn.functional.max_pool2d),
        ("avg", nn.functional.avg_pool2d),
    ):
        model = SmallCNN(pooling=pooling)
        maps = model.feature_maps(x)
        assert torch.allclose(maps["pool1"], reference(maps["conv1"], 2))
    assert SmallCNN(pooling="none", image_size=20).feature_maps(
        torch.rand(1, 1, 20, 20)
    )["pool2"].shape == (1, 16, 20, 20)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(pooling="median"), "pooling"),
        (dict(image_size=30), "multiple of 4"),
        (dict(channels=(8,)), "channel"),
        (dict(num_classes=0), "num_classes"),
    ],
)
def test_small_cnn_refuses_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SmallCNN(**kwargs)


def test_small_cnn_names_the_expected_input_shape():
    with pytest.raises(
        ValueError,
        match=r"expected floating images of shape \(batch, 1, 28, 28\), got shape \(2, 28, 28\)",
    ):
        SmallCNN()(torch.rand(2, 28, 28))


def _separable_data(n=256, seed=0):
    """Bright top half (class 1) against bright bottom half (class 0), with noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(2, (n,), generator=g)
    images = torch.rand(n, 1, 12, 12, generator=g) * 0.3
    images[labels == 1, :, :6] += 0.7
    images[labels == 0, :, 6:] += 0.7
    return images.clamp(0, 1), labels


def test_training_learns_a_separable_task_and_records_history():
    capslib.seed_everything(0)
    images, labels = _separable_data()
    model = SmallCNN(num_classes=2, image_size=12, channels=(4, 4), hidden=8)
    history = train_classifier(
        model,
        images,
        labels,
        epochs=3,
        batch_size=32,
        lr=3e-3,
        seed=0,
        validation=_separable_data(64, seed=1),
    )
    assert isinstance(history, TrainingHistory) and history.epochs == 3
    assert (
        len(history.train_accuracy)
        == len(history.val_accuracy)
        == len(history.seconds)
        == 3
    )
    assert history.examples_seen == 3 * 256
    assert history.loss[-1] < history.loss[0]
    assert history.val_accuracy[-1] >= 0.95
    assert accuracy(model, *_separable_data(64, seed=2)) >= 0.95
    assert not model.training
    assert "epoch 3" in str(history)


def test_training_is_reproducible_with_the_same_seeds():
    runs = []
    for _ in range(2):
        capslib.seed_everything(1)
        model = SmallCNN(num_classes=2, image_size=12, channels=(2, 2), hidden=4)
        train_classifier(
            model,
            *_separable_data(64),
            epochs=1,
            batch_size=16,
            seed=3,
            augment=random_affine(10, 1),
        )
        runs.append(torch.cat([p.flatten() for p in model.parameters()]))
    assert torch.equal(runs[0], runs[1])


def test_predict_proba_gives_probabilities_in_eval_mode():
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3), nn.Dropout(0.5))
    model.train()
    x = torch.rand(10, 1, 4, 4)
    p = predict_proba(model, x, batch_size=3)
    assert p.shape == (10, 3) and torch.allclose(p.sum(1), torch.ones(10))
    assert torch.allclose(p, predict_proba(model, x))  # dropout is off: deterministic
    assert not model.training


def test_accuracy_counts_the_argmax():
    model = nn.Flatten()  # the "logits" are the 4 pixels
    images = torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]]).view(3, 1, 2, 2)
    assert accuracy(model, images, torch.tensor([0, 1, 2])) == pytest.approx(2 / 3)


def test_evaluation_refuses_bad_labels():
    with pytest.raises(
        ValueError,
        match=r"int64 labels of shape \(3,\), got shape \(3,\) of dtype float32",
    ):
        accuracy(nn.Flatten(), torch.rand(3, 1, 2, 2), torch.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="floating images.*uint8"):
        predict_proba(nn.Flatten(), torch.zeros(3, 1, 2, 2, dtype=torch.uint8))


def test_affine_images_matches_exact_rotations_and_shifts():
    x = torch.rand(2, 1, 9, 9)
    assert torch.allclose(
        affine_images(x, degrees=90.0), torch.rot90(x, 1, dims=(2, 3)), atol=1e-5
    )
    assert torch.allclose(
        affine_images(x, degrees=-90.0), torch.rot90(x, -1, dims=(2, 3)), atol=1e-5
    )
    shifted = affine_images(x, shift=(2.0, -1.0))
    assert torch.allclose(shifted[..., :8, 2:], x[..., 1:, :7], atol=1e-6)
    assert (
        shifted[..., :, :2].abs().max() < 1e-6 and shifted[..., 8, :].abs().max() < 1e-6
    )  # zeros come in
    per_image = affine_images(x, degrees=torch.tensor([0.0, 180.0]))
    assert torch.allclose(per_image[0], x[0], atol=1e-6)
    assert torch.allclose(per_image[1], torch.rot90(x[1], 2, dims=(1, 2)), atol=1e-5)


def test_random_affine_stays_within_its_bounds():
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(200, 1, 15, 15)
    x[:, :, 7, 7] = 1.0
    out = random_affine(0.0, 2.0)(x, g)
    rows = torch.arange(15.0)
    mass = out.sum((1, 2, 3))
    cy = (out.sum(3).squeeze(1) * rows).sum(1) / mass
    cx = (out.sum(2).squeeze(1) * rows).sum(1) / mass
    assert (cx - 7).abs().max() <= 2.0 + 1e-4 and (cy - 7).abs().max() <= 2.0 + 1e-4
    assert (cx - 7).abs().max() > 1.0  # it does move them
    assert torch.equal(random_affine()(x, g), affine_images(x))
    with pytest.raises(ValueError, match="max_degrees"):
        random_affine(-1.0)


def test_map_batches_joins_per_batch_outputs_in_order_on_the_cpu():
    x = torch.arange(10.0).reshape(10, 1)
    calls = []

    def double(batch):
        calls.append(len(batch))
        assert not torch.is_grad_enabled()
        return 2 * batch

    out = capsbook.classifiers.map_batches(double, x, batch_size=4)
    assert calls == [4, 4, 2]
    assert torch.equal(out, 2 * x) and out.device.type == "cpu"


def test_map_batches_rejects_outputs_without_one_row_per_example():
    with pytest.raises(ValueError, match="one row per example"):
        capsbook.classifiers.map_batches(
            lambda b: b.sum(), torch.ones(5, 2), batch_size=2
        )
    with pytest.raises(ValueError, match="batch_size >= 1"):
        capsbook.classifiers.map_batches(lambda b: b, torch.ones(5, 2), batch_size=0)


def test_train_classifier_fits_a_capsnet_with_its_own_objective():
    from capsbook.classifiers import capsnet_objective
    from capslib.models import CapsNet, CapsNetConfig

    torch.manual_seed(0)
    # two classes: a bright left half or a bright right half
    n = 64
    labels = torch.arange(n) % 2
    images = torch.zeros(n, 1, 28, 28)
    images[labels == 0, :, :, :14] = 1.0
    images[labels == 1, :, :, 14:] = 1.0
    images += 0.05 * torch.rand(images.shape)
    net = CapsNet(
        CapsNetConfig.small(
            num_classes=2, conv_channels=8, primary_types=2, decoder_hidden=(16, 32)
        )
    )
    lengths = lambda m, x: m(x).lengths  # noqa: E731
    history = train_classifier(
        net,
        images,
        labels,
        epochs=4,
        batch_size=16,
        lr=3e-3,
        seed=0,
        objective=capsnet_objective,
        scores=lengths,
        validation=(images, labels),
    )
    assert history.loss[-1] < history.loss[0]
    assert history.val_accuracy[-1] == 1.0
    assert accuracy(net, images, labels, scores=lengths) == history.val_accuracy[-1]
    # the objective's loss is the CapsNet's own total loss, not a cross-entropy
    loss, scores = capsnet_objective(net, images[:4], labels[:4])
    out = net(images[:4], targets=labels[:4])
    assert torch.allclose(loss, net.loss(out, images[:4], labels[:4]).total)
    assert torch.equal(scores, out.lengths)

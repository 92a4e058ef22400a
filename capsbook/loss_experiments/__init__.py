"""Chapter 6's experiment: the paper's reconstruction loss, the mistaken mean, and none.

The small CapsNet is trained identically but for its reconstruction term
(``scripts/measure_reconstruction_losses.py``, which writes
``results/reconstruction-losses.json``), and the chapter reads what this module
measures on the trained networks:

* :class:`MeanReconstructionTrainer`: the trainer with the mistake, 0.0005 times
  the *mean* squared error (784 times weaker on MNIST), and :func:`trainer_for`,
  the trainer of each variant (:data:`VARIANTS`);
* reconstruction errors per test digit (:func:`squared_errors`) against drawing
  the mean training digit or the class-mean training digit of the digit's label
  (:func:`class_mean_digits`, the floor of :func:`floor_test`, kept in the record
  by :func:`floor_record` and read back by :func:`recorded_floor`), compared digit by digit
  (:func:`capsbook.paired.paired_difference`, importable from here too);
* what a linear probe reads of a digit's appearance from its capsule
  (:func:`probe_appearance`);
* how far the decoder's weights moved (:func:`relative_change`), where Adam's
  epsilon matters (:func:`adam_below_eps`), and the reconstruction's share of
  the gradient in the layers both losses share (:func:`gradient_shares`);
* the rules that turn the numbers into verdicts (:func:`reconstructs`,
  :func:`arm_floor_test`, :func:`assess`), stated in the chapter before the
  numbers: each loss is trained with several seeds and two losses are compared
  seed by seed, the two networks of a seed forming a pair
  (:func:`capsbook.loss_experiments.seeds.paired_compare`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import torch
from torch import Tensor

import capslib.functional as cf
from capsbook import pitfalls
from capsbook.loss_experiments.seeds import (
    MIN_SEEDS,
    arm_by_seed,
    arm_stats,
    arms_of,
    critical,
    not_decided,
    paired_compare,
    summarise,
)
from capsbook.loss_experiments.seeds import (
    QUANTITIES as SEED_QUANTITIES,
)
from capsbook.paired import paired_comparison as paired_comparison
from capsbook.paired import paired_difference as paired_difference
from capsbook.probes import ink_statistics, probe_r2
from capsbook.runs.folder import results_file
from capslib.train import TrainConfig, Trainer

RESULT_NAME = "reconstruction-losses.json"
#: Where the script writes the record: the repository's results/ folder.
RESULT = Path(__file__).resolve().parents[2] / "results" / RESULT_NAME
COMMAND = "python scripts/measure_reconstruction_losses.py"

#: The three trainings, identical but for the reconstruction term.
VARIANTS = {
    "sum": "the paper's: 0.0005 x the sum of squared errors over the pixels",
    "mean": "the mistake: 0.0005 x the mean squared error (784 times weaker)",
    "none": "no decoder, no reconstruction loss (the margin loss alone)",
}
#: What the probe reads: :func:`capsbook.probes.ink_statistics` of the input.
QUANTITIES = ("ink", "width", "height", "slant")
#: Rule 3: the line between "the factor 784 is cancelled in how far the decoder
#: moved" (ratio near 1) and "passed through" (near 784): its square root, the
#: midpoint of 1 and 784 on a log scale.
MOVEMENT_LINE = math.sqrt(784)
#: The pairs of arms the probe and accuracy rules compare (a - b).
PAIRS = (("sum", "none"), ("mean", "none"), ("sum", "mean"))
#: Adam's epsilon (torch's default, the trainer's).
ADAM_EPS = 1e-8


class MeanReconstructionTrainer(Trainer):
    """The trainer with the mistake: margin loss + 0.0005 x the MEAN squared error.

    The same :class:`capslib.train.Trainer` (data, schedule, checkpoints,
    resuming) with :meth:`compute_loss` replaced, as in public code that writes
    ``0.0005 * F.mse_loss(...)`` (:func:`capsbook.pitfalls.reconstruction_loss_mean`).
    The margin term is the model's own (its ``loss_scale``).
    """

    def compute_loss(self, model, images, labels, components=None):
        if components is not None or labels.ndim != 1:
            raise ValueError(
                "MeanReconstructionTrainer: one digit per image only (MNIST), "
                "not MultiMNIST pairs"
            )
        output = model(images, targets=labels)
        margin = self.model.loss(output, images, labels).margin
        mistaken = pitfalls.reconstruction_loss_mean(output.reconstructions, images)
        return margin + mistaken, output.lengths


def trainer_for(variant: str, config: TrainConfig, **kwargs) -> Trainer:
    """The trainer of ``variant`` (a key of :data:`VARIANTS`) for ``config``.

    ``"sum"``: :class:`~capslib.train.Trainer` as it is; ``"mean"``:
    :class:`MeanReconstructionTrainer`; ``"none"``: ``config`` without the
    decoder (``reconstruction=False``).  ``kwargs`` go to the trainer.
    """
    if variant not in VARIANTS:
        raise ValueError(
            f"trainer_for: expected a variant among {', '.join(VARIANTS)}, "
            f"got {variant!r}"
        )
    if config.model != "capsnet":
        raise ValueError(f"trainer_for: a CapsNet only, got model={config.model!r}")
    if variant == "none":
        return Trainer(dataclasses.replace(config, reconstruction=False), **kwargs)
    config = dataclasses.replace(config, reconstruction=True)
    cls = MeanReconstructionTrainer if variant == "mean" else Trainer
    return cls(config, **kwargs)


# ------------------------------------------------------------------ reconstructions


def squared_errors(pictures: Tensor, images: Tensor) -> Tensor:
    """The sum of squared errors of each picture against its image: ``(n,)`` float64.

    ``pictures``: ``(n, ...)``, or one picture (the mean training digit) that
    is compared with every image; ``images``: ``(n, ...)``.
    """
    pictures, images = pictures.double(), images.double()
    if pictures.shape != images.shape:
        pictures = pictures.expand_as(images)
    return (pictures - images).square().flatten(1).sum(1)


def class_mean_digits(images: Tensor, labels: Tensor, classes: int = 10) -> Tensor:
    """The mean image of each class: ``(classes, *images.shape[1:])`` float64.

    ``images``: ``(n, ...)`` training images; ``labels``: ``(n,)`` their classes.
    Drawn for a test digit of class ``k``, picture ``k`` is the best a decoder can
    do for the squared error when it knows the class and nothing else about the
    digit: the floor a decoder must beat to have learned more than the class.
    """
    images, labels = images.double(), torch.as_tensor(labels)
    if labels.shape != images.shape[:1]:
        raise ValueError(
            f"class_mean_digits: expected one label per image, got {len(labels)} "
            f"labels for {len(images)} images"
        )
    counts = torch.bincount(labels, minlength=classes)
    if (counts == 0).any():
        missing = (counts == 0).nonzero().flatten().tolist()
        raise ValueError(f"class_mean_digits: no training image of class {missing}")
    return torch.stack([images[labels == k].mean(0) for k in range(classes)])


#: Decimals kept of each pixel of the recorded class-mean digits (:func:`floor_record`).
FLOOR_DECIMALS = 8


def floor_record(
    train_images: Tensor,
    train_labels: Tensor,
    test_images: Tensor,
    test_labels: Tensor,
    training: str,
    classes: int = 10,
) -> dict:
    """The floor as the record keeps it: the class-mean digits and their error.

    ``train_images``, ``train_labels``: the training digits the runs trained on
    (seed 0's split); ``test_*``: the test digits.  Returns ``what``,
    ``training`` (which digits, in words), ``training_digits``, ``class_counts``,
    ``class_mean_digits`` (10 lists of the pixels, row by row, to
    :data:`FLOOR_DECIMALS` decimals), and the ``error`` (mean over the test
    digits of the squared error of drawing the class-mean digit of the label)
    and its ``sd``, both computed from the rounded digits, as a reader
    recomputes them (:func:`recorded_floor`).  A build with only a sample of the
    training digits then shows the same floor as one with all of them.
    """
    templates = class_mean_digits(train_images, train_labels, classes)
    labels = torch.as_tensor(train_labels)
    rounded = [
        [round(v, FLOOR_DECIMALS) for v in t.flatten().tolist()] for t in templates
    ]
    shape = tuple(templates.shape[1:])
    kept = torch.tensor(rounded, dtype=torch.float64).view(-1, *shape)
    errors = squared_errors(kept[torch.as_tensor(test_labels)], test_images)
    return {
        "what": "the class-mean digit of the label, drawn for every test digit: the "
        "best picture for the squared error that knows the class and nothing else",
        "training": training,
        "training_digits": len(labels),
        "class_counts": torch.bincount(labels, minlength=len(templates)).tolist(),
        "shape": list(shape),
        "class_mean_digits": rounded,
        "error": errors.mean().item(),
        "sd": errors.std().item(),
    }


def recorded_floor(record: dict) -> tuple[Tensor, Tensor] | None:
    """``(class-mean digits (10, 1, 28, 28), class counts (10,))`` from a record's
    ``reconstruction.floor`` (:func:`floor_record`), float64; ``None`` without one."""
    floor = (record or {}).get("reconstruction", {}).get("floor")
    if floor is None:
        return None
    digits = torch.tensor(floor["class_mean_digits"], dtype=torch.float64)
    counts = torch.tensor(floor["class_counts"], dtype=torch.float64)
    return digits.view(-1, *floor["shape"]), counts


def floor_test(error: float, error_sd: float, floor: Tensor) -> dict:
    """A decoder's mean error against the class-mean floor, without its per-digit errors.

    ``error``, ``error_sd``: the decoder's mean and standard deviation over the test
    digits (what the record keeps); ``floor``: ``(n,)`` the class-mean digit's error
    on each of the same digits.  The paired standard error of floor - error needs the
    per-digit errors; without them this uses its largest possible value,
    ``(sd_floor + sd_error) / sqrt(n)`` (the standard deviation of a difference is
    at most the sum of the two, whatever their correlation).  Returns the floor's
    mean, the decoder's ``fraction_of_floor`` (reported, not judged),
    ``below`` (floor - error), ``se_bound`` and ``learned``:
    :func:`reconstructs` against the floor.
    """
    floor = torch.as_tensor(floor).double()
    mean = floor.mean().item()
    se_bound = (floor.std().item() + error_sd) / math.sqrt(len(floor))
    return {
        "floor": mean,
        "fraction_of_floor": error / mean,
        "below": mean - error,
        "se_bound": se_bound,
        "learned": reconstructs(error, mean, se_bound),
    }


def reconstructs(error: float, baseline: float, se: float, bar: float = 2.0) -> bool:
    """The rule: a decoder has learned to reconstruct beyond the baseline when its
    mean error is below the baseline's by more than ``bar`` times ``se`` (the
    standard error of baseline - error): twice for one network judged on its test
    digits, Student's t for a mean over few seeds (:func:`.seeds.critical`).  How
    far below is reported, not judged: no fraction of the baseline is asked for,
    since none follows from the question."""
    return baseline - error > bar * se


def arm_floor_test(errors, sds, floor: Tensor) -> dict:
    """Rule 1 for a loss trained with several seeds: its mean error against the floor.

    ``errors``, ``sds``: each seed's mean error and its standard deviation over
    the test digits; ``floor``: ``(n,)`` as in :func:`floor_test`, which judges
    the mean of ``errors`` with, as ``se_bound``, the test digits' bound (at the
    seeds' mean standard deviation) and the between-seed standard error of the
    mean error combined, ``sqrt(bound² + se_seeds²)``, against ``critical``
    times it: Student's t for the seeds' ``n - 1`` degrees of freedom
    (:func:`.seeds.critical`, 4.30 for 3 seeds; cautious, since the test digits'
    part rests on many more).  ``learned`` is ``None`` with fewer than
    :data:`.seeds.MIN_SEEDS` seeds; ``n``, ``seed_se``, ``critical`` and
    ``verdict`` (``"learned"``, ``"not learned"`` or not decided) are added.
    """
    stats = arm_stats(errors)
    result = floor_test(stats["mean"], sum(sds) / len(sds), floor)
    result |= {"n": stats["n"], "seed_se": stats["se"], "critical": None}
    if stats["n"] < MIN_SEEDS:
        return result | {"learned": None, "verdict": not_decided(stats["n"])}
    se = math.hypot(result["se_bound"], stats["se"])
    bar = critical(stats["n"])
    learned = reconstructs(stats["mean"], result["floor"], se, bar)
    verdict = "learned" if learned else "not learned"
    return result | {
        "se_bound": se,
        "critical": bar,
        "learned": learned,
        "verdict": verdict,
    }


def encode_pictures(pictures: Tensor) -> list[str]:
    """Pictures in [0, 1] as hexadecimal strings of bytes (0-255), one per picture."""
    data = (pictures.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    return [bytes(p.flatten().tolist()).hex() for p in data]


def decode_pictures(encoded: list[str], shape=(1, 28, 28)) -> Tensor:
    """The inverse of :func:`encode_pictures`: ``(n, *shape)`` float in [0, 1]."""
    return torch.stack(
        [
            torch.tensor(list(bytes.fromhex(h)), dtype=torch.float32).view(shape) / 255
            for h in encoded
        ]
    )


# ------------------------------------------------------------------ the linear probe


def appearance(images: Tensor) -> Tensor:
    """The digit's appearance: :data:`QUANTITIES` of each image, ``(n, 4)`` float64."""
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(
            f"appearance: expected grey images (n, 1, H, W), got {tuple(images.shape)}"
        )
    stats = ink_statistics(images[:, 0])
    return torch.stack([stats[q] for q in QUANTITIES], 1)


def probe_features(poses: Tensor, labels: Tensor) -> Tensor:
    """What the probe reads: the label's capsule (the 160 masked numbers the decoder
    sees in training) and the class as one-hot: ``(n, 10 * 16 + 10)``."""
    one_hot = torch.nn.functional.one_hot(labels, poses.shape[1]).to(poses.dtype)
    return torch.cat([(poses * one_hot[:, :, None]).flatten(1), one_hot], 1)


def probe_appearance(
    poses: dict[str, Tensor],
    images: Tensor,
    labels: Tensor,
    *,
    splits: int = 10,
    ridge: float = 0.1,
) -> dict[str, Tensor]:
    """Held-out R² of a ridge probe from each network's capsule to the digit's appearance.

    ``poses``: ``{network: (n, 10, 16)}`` for the same ``images`` ``(n, 1, H, W)``
    and ``labels``.  Returns ``{"the class alone": ..., network: ...}``, each
    ``(splits, 4)`` (:func:`capsbook.probes.probe_r2`, the same halvings for all):
    the class alone is the floor that a capsule must beat.
    """
    targets = appearance(images)
    one_hot = torch.nn.functional.one_hot(labels, 10).double()
    r2 = {"the class alone": probe_r2(one_hot, targets, splits=splits, ridge=ridge)}
    for name, p in poses.items():
        features = probe_features(p.double(), labels)
        r2[name] = probe_r2(features, targets, splits=splits, ridge=ridge)
    return r2


# ------------------------------------------------------------------ the optimiser


def relative_change(
    initial: dict[str, Tensor], final: dict[str, Tensor], prefix: str = "decoder."
) -> tuple[float, dict[str, float]]:
    """How far the tensors named ``prefix...`` moved: ``|W_end - W_start| / |W_start|``.

    Returns the change over all of them together and for each tensor.
    """
    names = [k for k in initial if k.startswith(prefix)]
    if not names:
        raise ValueError(f"relative_change: no tensor named {prefix}...")

    def rel(a, b):
        return ((b.double() - a.double()).norm() / a.double().norm()).item()

    start = torch.cat([initial[k].double().flatten().cpu() for k in names])
    end = torch.cat([final[k].double().flatten().cpu() for k in names])
    each = {k: rel(initial[k].cpu(), final[k].cpu()) for k in names}
    return rel(start, end), each


def adam_below_eps(
    optimizer_state: dict,
    parameter_names: list[str],
    prefix: str = "decoder.",
    eps: float | None = None,
) -> dict[str, float]:
    """Where Adam's epsilon matters on the parameters named ``prefix...``.

    Adam steps by ``m_hat / (sqrt(v_hat) + eps)``: where ``sqrt(v_hat)`` is
    far above ``eps`` a constant factor on the gradient cancels, where it is
    below, the factor passes through.  ``optimizer_state``: an Adam
    ``state_dict()`` whose parameters are ``parameter_names`` in order (a model's
    ``named_parameters()``, as the trainer builds it).  Returns the fraction of
    the entries whose bias-corrected ``sqrt(v_hat)`` is below ``eps`` (the
    group's, else ``eps``, else :data:`ADAM_EPS`), the fraction with ``v = 0``
    (no gradient ever), and the median of ``sqrt(v_hat)``.
    """
    group = optimizer_state["param_groups"][0]
    beta2 = group["betas"][1]
    eps = group.get("eps", ADAM_EPS) if eps is None else eps
    roots = []
    for index, name in enumerate(parameter_names):
        if not name.startswith(prefix):
            continue
        state = optimizer_state["state"].get(index)
        if not state:
            raise ValueError(f"adam_below_eps: no optimiser state for {name}")
        step = float(state["step"])
        v_hat = state["exp_avg_sq"].double().cpu() / (1 - beta2**step)
        roots.append(v_hat.sqrt().flatten())
    if not roots:
        raise ValueError(f"adam_below_eps: no parameter named {prefix}...")
    root = torch.cat(roots)
    return {
        "below_eps": (root < eps).double().mean().item(),
        "zero": (root == 0).double().mean().item(),
        "median_sqrt_v": root.median().item(),
    }


def gradient_shares(model, images: Tensor, labels: Tensor) -> dict[str, float]:
    """The reconstruction's gradient on the shared layers over the margin loss's, by norm.

    The shared layers are every parameter outside ``decoder.`` (conv1, the
    primary capsules, the W_ij): both losses reach them, so Adam rescales their
    sum and only the reconstruction's share of it counts.  The decoder is
    given the label's capsule, as in training.  Returns
    ``{"margin_norm": ..., "sum": share, "mean": share}``; the two shares differ
    by exactly the number of pixels.
    """
    shared = [p for n, p in model.named_parameters() if not n.startswith("decoder.")]
    losses = {
        "sum": cf.reconstruction_loss,
        "mean": pitfalls.reconstruction_loss_mean,
    }

    def norm(loss_of_output):
        model.zero_grad(set_to_none=True)
        output = model(images, mask_with=labels)
        grads = torch.autograd.grad(loss_of_output(output), shared, allow_unused=True)
        return (
            torch.cat(
                [
                    (torch.zeros_like(p) if g is None else g).flatten()
                    for p, g in zip(shared, grads)
                ]
            )
            .norm()
            .item()
        )

    margin = norm(lambda out: cf.margin_loss(out.lengths, labels))
    shares = {
        name: norm(lambda out: fn(out.reconstructions, images)) / margin
        for name, fn in losses.items()
    }
    return {"margin_norm": margin, **shares}


def mean_versus_none_gradient(
    model, images: Tensor, labels: Tensor, autocast: torch.dtype | None = None
) -> float:
    """How far the mistaken mean's gradient on the shared layers is from none's.

    The relative difference ||g(margin + mean) - g(margin)|| / ||g(margin)|| over
    every parameter outside ``decoder.``, the decoder given the label's capsule.
    ``autocast`` runs the forward pass and both losses under ``torch.autocast``
    with that dtype (``torch.bfloat16``, as the ch06 runs trained); ``None`` is
    plain float32.  The mean's share is about 1e-6 of the margin's, so in float32
    the difference is of that order, and bf16 rounding can erase it entirely.
    """
    shared = [p for n, p in model.named_parameters() if not n.startswith("decoder.")]
    device = next(model.parameters()).device.type

    def grad(with_mean: bool) -> Tensor:
        with torch.autocast(device, dtype=autocast, enabled=autocast is not None):
            output = model(images, mask_with=labels)
            loss = cf.margin_loss(output.lengths, labels)
            if with_mean:
                loss = loss + pitfalls.reconstruction_loss_mean(
                    output.reconstructions, images
                )
        grads = torch.autograd.grad(loss, shared, allow_unused=True)
        return torch.cat(
            [
                (torch.zeros_like(p) if g is None else g).float().flatten()
                for p, g in zip(shared, grads)
            ]
        )

    none = grad(False)
    return ((grad(True) - none).norm() / none.norm()).item()


# ------------------------------------------------------------------ the record and its verdicts


def read_result(path: str | Path | None = None) -> dict | None:
    """The measurement ``results/reconstruction-losses.json``, or ``None`` if it is not there.

    ``path`` defaults to the record in the results folder (``$CAPSLIB_RESULTS`` if set).
    """
    path = Path(path) if path is not None else results_file(RESULT_NAME)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def missing_message(path: str | Path = RESULT_NAME) -> str:
    """What the chapter says when the measurement is missing: the command that makes it."""
    return (
        f"**Not measured yet:** `results/{Path(path).name}` is missing. Make it "
        "with `CAPSLIB_DATA=<folder holding mnist/> "
        f"{COMMAND}` (hours on a CPU; see the script's docstring), or copy the file "
        "there; the numbers below wait for it."
    )


def assess(record: dict) -> dict:
    """The verdicts of the chapter's rules, computed from a measurement ``record``.

    Two arms are compared seed by seed (:func:`.seeds.paired_compare`: the
    difference at each seed, counted when its mean over the seeds is beyond
    Student's t critical value (4.30 for 3 seeds) times its standard error, a
    paired t-test at p < 0.05; fewer than :data:`.seeds.MIN_SEEDS` pairs decide
    nothing).  The per-seed values come from the record's per-run entries.
    Returns a dict:

    * ``seeds``: ``{arm: number of seeds}``; ``summary``:
      :func:`.seeds.summarise` (per arm, mean and SE over seeds);
    * ``learned``: ``{decoder arm: bool or None}``, :func:`reconstructs` of the
      arm's mean error against the mean training digit, with the between-seed
      standard error and the test digits' (the seeds' mean paired SE) combined,
      against t times it;
    * ``reconstruction``: the mean's error minus the sum's (+1: the mean
      reconstructs worse);
    * ``probe``: for ``"sum - none"``, ``"mean - none"`` and ``"sum - mean"``,
      the probe's R² averaged over the quantities and halvings;
    * ``movement``: the log of the decoders' movements, sum minus mean, with
      ``ratio`` (its exponential, sum over mean), ``ratio_range`` (the ratio at
      ``difference -+ critical * se``) and ``below_line`` (rule 3: ``True`` when the whole
      range is below :data:`MOVEMENT_LINE`, the factor cancelled in how far the
      decoder moved; ``False`` when above; ``None`` when it straddles the line
      or is not decided);
    * ``accuracy``: the test errors, ``"sum vs none"``, ``"sum vs mean"`` and
      ``"mean vs none"``.
    """
    arms = arms_of(record)
    values = {
        q: {arm: arm_by_seed(record, q, arm) for arm in arms} for q in SEED_QUANTITIES
    }
    rec = record["reconstruction"]
    baseline = rec["errors"]["mean training digit"]
    learned = {}
    for arm, errors in values["reconstruction_error"].items():
        if not errors:
            continue
        stats = arm_stats(list(errors.values()))
        if stats["n"] < MIN_SEEDS:
            learned[arm] = None
            continue
        keys = [k for k in arms[arm] if k in rec["below_baseline_se"]]
        digits_se = sum(rec["below_baseline_se"][k] for k in keys) / len(keys)
        se = math.hypot(stats["se"], digits_se)
        learned[arm] = reconstructs(stats["mean"], baseline, se, critical(stats["n"]))
    errors = values["reconstruction_error"]
    r2 = values["probe_r2"]
    logs = {
        arm: {s: math.log(v) for s, v in values["decoder_movement"][arm].items()}
        for arm in ("sum", "mean")
        if arm in values["decoder_movement"]
    }
    movement = paired_compare(logs.get("sum", {}), logs.get("mean", {}))
    d, se = movement["difference"], movement["se"]
    movement["ratio"] = None if d is None else math.exp(d)
    movement["ratio_range"] = None
    movement["below_line"] = None
    if movement["sign"] is not None:
        bar = movement["critical"]
        low, high = math.exp(d - bar * se), math.exp(d + bar * se)
        movement["ratio_range"] = (low, high)
        if high < MOVEMENT_LINE:
            movement["below_line"] = True
        elif low > MOVEMENT_LINE:
            movement["below_line"] = False
    wrong = values["test_errors"]
    return {
        "seeds": {arm: len(v) for arm, v in wrong.items()},
        "summary": summarise(record),
        "learned": learned,
        "reconstruction": paired_compare(errors.get("mean", {}), errors.get("sum", {})),
        "probe": {
            f"{a} - {b}": paired_compare(r2.get(a, {}), r2.get(b, {})) for a, b in PAIRS
        },
        "movement": movement,
        "accuracy": {
            f"{a} vs {b}": paired_compare(wrong.get(a, {}), wrong.get(b, {}))
            for a, b in (("sum", "none"), ("sum", "mean"), ("mean", "none"))
        },
    }

"""Chapter 10's rules, stated once: each verdict is computed here from run summaries and measurements.

The chapter shows the numbers; these functions say what they decide, so
that the verdict table and the summaries in ``results/`` cannot disagree
(``tests/capsbook/test_robustness.py`` applies them to the committed runs).

* :func:`affine_verdict`: CapsNet against a CNN of the same size, from
  shifted to affine-transformed digits (Sabour et al. 2017, Section 5.2),
  judged only at the paper's operating point (:data:`AFFINE_FLOOR`);
* :func:`multimnist_verdict`: both digits of a MultiMNIST pair, against a
  CNN of the same size trained on the same pairs (:data:`MULTIMNIST_CNN_COMMAND`
  makes it);
* :func:`template_reconstructions`, :func:`closer_own_rate` and
  :func:`segmentation_verdict`: the segmentation score, and the baseline with
  no capsules that it must beat, scored on the same pairs (a paired standard
  error, :func:`capsbook.paired.paired_difference`);
* chapter 2's scrambled faces over seeds live in :mod:`capsbook.robustness.face_seeds`;
* :func:`late_improvement` and :func:`run_state`: whether a run was still
  improving when it stopped; :func:`train_command` and :func:`provenance_table`:
  where each cited run comes from;
* :func:`trained_verdicts`: the verdicts of the trained runs in ``results/``,
  the rows of chapter 10's table that come from run summaries.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch

from ..paired import difference_standard_error, paired_difference
from ..probes.perturbation import centre_of_mass
from ..runs import load_run, shipped_run  # capsbook.runs reads results/

#: The flags ``scripts/train_shipped_models.sh`` gives every run (its ``COMMON`` and ``--dtype``).
COMMON_FLAGS = (
    "--mode full --device cpu --batch-size 128 --lr 1e-3 --lr-decay 0.9 "
    "--lr-decay-steps 430 --validation-size 5000 --seed 0 --no-progress --dtype auto"
)

#: The run the MultiMNIST verdict needs: a max-pooling CNN sized to the small MultiMNIST CapsNet,
#: trained on the same pairs with the same schedule (``results/multimnist-cnn``).
MULTIMNIST_CNN_COMMAND = (
    f"python -m capslib.train {COMMON_FLAGS} --model pooled-cnn --config small "
    "--dataset multimnist --epochs 15 --out results/multimnist-cnn"
)

#: The shifted validation accuracy both networks must reach before the affine claim is judged: the
#: paper's CapsNet reached 99.23% on the expanded (shifted) MNIST test set before its affNIST test.
AFFINE_FLOOR = 0.99


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict and the measurement that decided it (one line each, for the table)."""

    verdict: str
    measured: str


def affine_verdict(capsnet: dict, cnn: dict, *, floor: float = AFFINE_FLOOR) -> Verdict:
    """The affine claim from the two runs' ``summary.json`` dicts.

    The rule, in this order: below ``floor`` shifted validation accuracy for either network,
    "not tested at the paper's operating point"; with validation accuracies more than a point
    apart, "not tested (not matched)"; trained differently (data, batch, schedule, seed or number
    format, :func:`_same_training`; the epochs may differ, since each run stops at its target),
    "not decided (training differs: ...)"; otherwise "held" if the CapsNet's affine test
    accuracy exceeds the CNN's by more than two standard errors of the difference, "did not
    hold" if the CNN's exceeds the CapsNet's by that margin, else "not shown" (within sampling
    noise).  "held" and "did not hold" say "one run each": the standard error covers the test
    digits, not the seed.
    """
    p1, p2 = capsnet["test_accuracy"], cnn["test_accuracy"]
    difference = p1 - p2
    se = difference_standard_error(
        p1, int(capsnet["test_size"]), p2, int(cnn["test_size"])
    )
    validation = (capsnet["best_val_accuracy"], cnn["best_val_accuracy"])
    measured = (
        f"affine test: CapsNet {p1:.2%}, CNN {p2:.2%} (difference {difference:+.2%}, 2 SE "
        f"{2 * se:.2%}), at shifted validation {validation[0]:.2%} and {validation[1]:.2%}"
    )
    differs = _same_training(
        capsnet, cnn, keys=tuple(k for k in TRAINING_KEYS if k != "epochs")
    )
    if min(validation) < floor:
        verdict = (
            f"not tested at the paper's operating point (validation below {floor:.0%})"
        )
    elif abs(validation[0] - validation[1]) > 0.01:
        verdict = "not tested (validation accuracies more than a point apart)"
    elif differs:
        verdict = f"not decided (training differs: {'; '.join(differs)})"
    else:
        verdict = _compare(
            difference,
            se,
            "held (one run each)",
            "did not hold (one run each)",
            "not shown (within two standard errors)",
        )
    return Verdict(verdict, measured)


#: How each outcome of the rules reads in a sentence: (the verdict's start, the verb phrase).
_OUTCOME_PHRASES = (
    ("held", "held"),
    ("did not hold", "did not hold"),
    ("not tested", "was not tested"),
    ("not decided", "could not be decided"),
    ("not shown", "was not shown"),
    ("not measured yet", "has not been measured yet"),
)


def verdict_sentence(verdict: str, subject: str = "the claim") -> str:
    """One whole sentence for a verdict of the chapter's rules, chosen by its outcome.

    ``verdict_sentence("not tested at the paper's operating point (validation below 99%)")``
    is "By the rule, the claim was not tested at the paper's operating point (validation
    below 99%)."; a verdict outside the rules' outcomes raises ``ValueError``.
    """
    for start, phrase in sorted(_OUTCOME_PHRASES, key=lambda o: -len(o[0])):
        if verdict.startswith(start):
            return f"By the rule, {subject} {phrase}{verdict[len(start) :]}."
    raise ValueError(f"not an outcome of the chapter's rules: {verdict!r}")


def _compare(difference: float, se: float, held: str, failed: str, neither: str) -> str:
    """The three-way rule every verdict of the chapter uses: beyond +-2 SE, or within."""
    if difference > 2 * se:
        return held
    if difference < -2 * se:
        return failed
    return neither


#: What two runs must share to be compared: their data, schedule and seed.
TRAINING_KEYS = (
    "dataset",
    "epochs",
    "batch_size",
    "lr",
    "lr_decay",
    "lr_decay_steps",
    "seed",
)


def _same_training(capsnet: dict, cnn: dict, keys=TRAINING_KEYS) -> list[str]:
    """What differs between two runs' training, from their ``summary.json`` dicts: empty when
    nothing does.

    ``keys`` of their ``config`` (pairs, schedule, seed), and the number format they trained in:
    the summary's ``dtype``, which ``--dtype auto`` resolves per machine (bf16 on a CPU with native
    bf16, float32 elsewhere), so two runs with the same command can differ in it.  Each entry
    names the key and both values, e.g. ``"dtype float32 / bfloat16"``.
    """
    c1, c2 = capsnet.get("config") or {}, cnn.get("config") or {}
    differs = [
        f"{key} {c1[key]} / {c2[key]}"
        for key in keys
        if key in c1 and key in c2 and c1[key] != c2[key]
    ]
    d1, d2 = capsnet.get("dtype"), cnn.get("dtype")
    if d1 is not None and d2 is not None and d1 != d2:
        differs.append(f"dtype {d1} / {d2}")
    return differs


def multimnist_verdict(capsnet: dict, cnn: dict | None) -> Verdict:
    """MultiMNIST recognition (both digits right) from the two runs' summaries.

    The rule, in this order: without a CNN run, "not measured yet" (and the command that makes
    it, :data:`MULTIMNIST_CNN_COMMAND`); with parameter counts more than 1% apart, "not tested";
    trained differently (pairs, epochs, schedule, seed or number format,
    :func:`_same_training`), "not decided (training differs: ...)", whatever the accuracies;
    otherwise "held" if the CapsNet's accuracy on the test pairs exceeds the CNN's by more than
    two standard errors of the difference, "did not hold" if the CNN's exceeds it by that
    margin, else "not shown".  The summaries hold accuracies, not each pair's outcome, so the
    standard error is the unpaired one: on the same test pairs the two networks' mistakes go
    together, and the paired error would be smaller (this rule is the cautious one).  It
    covers the test pairs, not the seed: "held" and "did not hold" say "one run each".
    """
    p1, n1 = capsnet["test_accuracy"], int(capsnet["test_size"])
    if cnn is None:
        return Verdict(
            "not measured yet",
            f"CapsNet both right {p1:.2%} of {n1:,} test pairs; no CNN run "
            f"(results/multimnist-cnn): make it with `{MULTIMNIST_CNN_COMMAND}`",
        )
    p2, n2 = cnn["test_accuracy"], int(cnn["test_size"])
    difference = p1 - p2
    se = difference_standard_error(p1, n1, p2, n2)
    measured = (
        f"both right: CapsNet {p1:.2%}, CNN {p2:.2%} of {n1:,} test pairs "
        f"(difference {difference:+.2%}, 2 SE {2 * se:.2%}; one run each)"
    )
    sizes = capsnet.get("parameters"), cnn.get("parameters")
    if None not in sizes and abs(sizes[0] - sizes[1]) > 0.01 * sizes[0]:
        return Verdict(
            f"not tested (sizes {sizes[0]:,} and {sizes[1]:,} parameters)", measured
        )
    differs = _same_training(capsnet, cnn)
    if differs:
        return Verdict(
            f"not decided (training differs: {'; '.join(differs)})", measured
        )
    return Verdict(
        _compare(
            difference,
            se,
            "held (one run each)",
            "did not hold (one run each)",
            "not shown (within two standard errors)",
        ),
        measured,
    )


def template_reconstructions(
    components: torch.Tensor, labels: torch.Tensor, class_means: torch.Tensor
) -> torch.Tensor:
    """A segmentation with no capsules: each label's class-mean digit, placed at its component's ink centre.

    ``components``: ``(n, k, 1, H, W)`` the digits each image is made of; ``labels``: ``(n, k)``;
    ``class_means``: ``(classes, 1, h, w)`` mean training digits (``h, w <= H, W``).  Returns
    ``(n, k, 1, H, W)``: what the segmentation score of a network must beat to say anything about
    capsules, since it knows the labels and where each digit is, and nothing else.
    """
    n, k, _, height, width = components.shape
    h, w = class_means.shape[-2:]
    canvas = torch.zeros(n, k, 1, height, width, dtype=class_means.dtype)
    mean_centres = centre_of_mass(class_means[:, 0])  # (classes, 2)
    centres = centre_of_mass(
        components.flatten(0, 1)[:, 0].to(class_means.dtype)
    )  # (n * k, 2)
    for index in range(n * k):
        b, j = divmod(index, k)
        label = int(labels[b, j])
        top, left = (centres[index] - mean_centres[label]).round().long().tolist()
        top, left = max(0, min(height - h, top)), max(0, min(width - w, left))
        canvas[b, j, 0, top : top + h, left : left + w] = class_means[label, 0]
    return canvas


def closer_own_rate(
    reconstructions: torch.Tensor, components: torch.Tensor, *, per_image: bool = False
) -> float | torch.Tensor:
    """The fraction of ``(n, k, C, H, W)`` reconstructions closer (squared error)
    to their own component than to every other component of the same image.

    With ``per_image=True``, ``(n,)``: each image's fraction over its ``k`` digits
    (the unit of :func:`segmentation_verdict`'s paired standard error).
    """
    k = reconstructions.shape[1]
    errors = (
        (reconstructions.flatten(2).unsqueeze(2) - components.flatten(2).unsqueeze(1))
        ** 2
    ).sum(-1)
    own = errors.diagonal(dim1=1, dim2=2)
    others = (
        errors.masked_fill(torch.eye(k, dtype=torch.bool), float("inf"))
        .min(dim=2)
        .values
    )
    closer = (own < others).float()  # (n, k)
    return closer.mean(1) if per_image else closer.mean().item()


def segmentation_verdict(capsnet: torch.Tensor, templates: torch.Tensor) -> Verdict:
    """The segmentation claim from the capsules' and the class templates' closer-own rates.

    ``capsnet``, ``templates``: ``(n,)`` each image's :func:`closer_own_rate` (``per_image=True``)
    on the same ``n`` images.  Both score the same digits, so the unit is the image and the
    standard error is the paired one (:func:`capsbook.paired.paired_difference`).  "held" if the
    capsules' rate exceeds the templates' by more than two standard errors, "did not hold" if the
    templates' exceeds it by that margin, else "not shown".
    """
    rate_a, rate_b = capsnet.double().mean().item(), templates.double().mean().item()
    difference, se = paired_difference(capsnet, templates)
    measured = (
        f"closer to their own digit: CapsNet {rate_a:.1%}, class templates {rate_b:.1%} "
        f"in {capsnet.numel():,} pairs (difference {difference:+.1%}, paired 2 SE "
        f"{2 * se:.1%})"
    )
    verdict = _compare(
        difference,
        se,
        "held",
        "did not hold (the templates do better)",
        "not shown (no better than class templates)",
    )
    return Verdict(verdict, measured)


def training_state(records: list[dict], *, tolerance: float = 0.001) -> str:
    """How a run ended, from its ``metrics.jsonl`` records: best epoch, and whether validation was still rising.

    Only epoch records count (``kind`` "epoch", or none, with a ``val_accuracy``).  "still rising"
    when the best validation accuracy is the last epoch's and it beat the epoch before by more
    than ``tolerance``; else "flat or falling after it".
    """
    accuracies = [
        record["val_accuracy"]
        for record in records
        if record.get("kind", "epoch") == "epoch" and "val_accuracy" in record
    ]
    if not accuracies:
        return "no epoch recorded"
    best = max(range(len(accuracies)), key=accuracies.__getitem__)
    rising = best == len(accuracies) - 1 and (
        len(accuracies) == 1 or accuracies[-1] - accuracies[-2] > tolerance
    )
    state = "still rising" if rising else "flat or falling after it"
    epochs = f"{len(accuracies)} epoch{'s' * (len(accuracies) != 1)}"
    return f"{epochs}, best epoch {best + 1}, {state}"


@dataclass(frozen=True)
class LateImprovement:
    """What :func:`late_improvement` measured: the last ``window`` epochs against the ``window`` before."""

    gain: float  # mean validation accuracy of the last window minus that of the window before
    two_se: (
        float  # two standard errors of that difference, from the epoch-to-epoch scatter
    )
    window: int

    @property
    def still_improving(self) -> bool:
        return self.gain > self.two_se

    def __str__(self) -> str:
        state = "still improving" if self.still_improving else "no longer improving"
        return (
            f"{state}: last {self.window} epochs {100 * self.gain:+.2f} points over the "
            f"{self.window} before (2 SE {100 * self.two_se:.2f})"
        )


def late_improvement(records: list[dict], *, window: int = 5) -> LateImprovement:
    """Was a run still improving when it stopped?  From its ``metrics.jsonl`` epoch records.

    The rule: the mean validation accuracy of the last ``window`` epochs against the mean of the
    ``window`` epochs before them; still improving if the gain exceeds two standard errors of the
    difference of the two means, estimated from each window's epoch-to-epoch scatter
    (``sqrt(s1^2 / w + s2^2 / w)``).  Needs at least ``2 * window`` epochs.
    """
    accuracies = [
        record["val_accuracy"]
        for record in records
        if record.get("kind", "epoch") == "epoch" and "val_accuracy" in record
    ]
    if window < 2 or len(accuracies) < 2 * window:
        raise ValueError(
            f"late_improvement: needs at least {2 * window} epochs with a validation accuracy "
            f"(window {window} >= 2), got {len(accuracies)}; train longer or pass a smaller window"
        )
    before = torch.tensor(accuracies[-2 * window : -window], dtype=torch.float64)
    last = torch.tensor(accuracies[-window:], dtype=torch.float64)
    gain = (last.mean() - before.mean()).item()
    two_se = 2 * math.sqrt((before.var().item() + last.var().item()) / window)
    return LateImprovement(gain, two_se, window)


def _epoch_accuracies(records: list[dict]) -> list[float]:
    return [
        record["val_accuracy"]
        for record in records
        if record.get("kind", "epoch") == "epoch" and "val_accuracy" in record
    ]


def run_state(records: list[dict], *, window: int = 5) -> str:
    """How a run ended, in words: its epochs, its best epoch, and whether it was still improving.

    With at least 4 epochs, :func:`late_improvement` over windows of ``min(window, epochs // 2)``
    epochs decides "still improving"; with 2 or 3 there is no scatter to judge a trend by, and the
    last epoch's change is reported as it is ("still rising" when it is the best by more than 0.1
    point).
    """
    accuracies = _epoch_accuracies(records)
    n = len(accuracies)
    if n == 0:
        return "no epoch recorded"
    best = max(range(n), key=accuracies.__getitem__) + 1
    head = f"{n} epoch{'s' * (n != 1)}, best epoch {best}"
    if n >= 4:
        return f"{head}; {late_improvement(records, window=min(window, n // 2))}"
    if n == 1:
        return f"{head}; one epoch, no trend to judge"
    step = accuracies[-1] - accuracies[-2]
    state = "still rising" if best == n and step > 0.001 else "flat or falling"
    return (
        f"{head}; {state} at the end ({100 * step:+.2f} points in the last epoch; "
        "too few epochs to test a trend)"
    )


def train_command(summary: dict) -> str:
    """The ``python -m capslib.train`` command that made a run, rebuilt from its ``summary.json``."""
    c = summary.get("config") or {}
    if not c:
        return summary.get("command", "(not recorded)")
    flags = [
        f"--mode {c['mode']}",
        f"--device {c['device']}",
        f"--batch-size {c['batch_size']}",
        f"--lr {c['lr']:g}",
        f"--lr-decay {c['lr_decay']:g}",
        f"--lr-decay-steps {c['lr_decay_steps']}",
        f"--validation-size {c['validation_size']}",
        f"--seed {c['seed']}",
    ]
    flags += ["--no-progress"] if c.get("progress") is False else []
    flags += [
        f"--dtype {c['dtype']}",
        f"--model {c['model']}",
        f"--config {c['config']}",
    ]
    flags += [f"--dataset {c['dataset']}", f"--epochs {c['epochs']}"]
    if c.get("stop_at_val_accuracy") is not None:
        flags.append(f"--stop-at-val-accuracy {c['stop_at_val_accuracy']:g}")
    flags.append(f"--out {c['out']}")
    return "python -m capslib.train " + " ".join(flags)


def provenance_table(runs: dict) -> str:
    """A Markdown table of where each cited run comes from, and the command that remakes each.

    ``runs``: ``{label: Run}`` (:class:`capsbook.runs.Run`; ``None`` for a run not made yet).
    Columns: the run, its epochs and how it ended (:func:`run_state`), wall time, hardware and
    number format, commit; then one line per run with its command (:func:`train_command`).
    """
    rows = [
        "| run | epochs, best epoch, at the end | wall time | hardware | commit |",
        "| --- | --- | ---: | --- | --- |",
    ]
    commands = []
    for label, run in runs.items():
        if run is None:
            rows.append(f"| {label} | not made yet | | | |")
            continue
        s = run.summary
        wall = s.get("wall_time_s")
        wall = "-" if wall is None else f"{wall / 60:.0f} min"
        budget = (s.get("config") or {}).get("epochs")
        epochs = run_state(run.metrics)
        if budget is not None:
            epochs += f" (budget {budget})"
        hardware = f"{s.get('device_name', '-')}, {s.get('dtype', '-')}"
        commit = str(s.get("git_commit", "-"))
        commit = commit[:10] + (
            " (uncommitted changes)" if commit.endswith("-dirty") else ""
        )
        rows.append(f"| {label} | {epochs} | {wall} | {hardware} | {commit} |")
        commands.append(f"- {label}: `{train_command(s)}`")
    return "\n".join(rows) + "\n\n" + "\n".join(commands)


#: The claims of chapter 10's verdict table that come from trained runs in ``results/``.
AFFINE_CLAIM = (
    "CapsNet transfers better than a CNN of the same size from shifted to "
    "affine-transformed digits (paper: 79% against 66% on affNIST)"
)
MULTIMNIST_CLAIM = (
    "CapsNet recognises both of two overlapping digits better than a CNN of the same "
    "size trained on the same pairs"
)


#: The CapsNet runs that chapter 10's MultiMNIST row may compare with ``results/multimnist-cnn``, in
#: order of preference: the shipped model, and the same network, pairs, schedule and seed trained
#: again under bf16 autocast, the CNN's number format (``bash scripts/train_shipped_models.sh
#: multimnist-bf16``: the shipped run used float32 on an Intel Xeon, the CNN bf16 on an AMD EPYC).
MULTIMNIST_CAPSNET_RUNS = ("multimnist-capsnet", "multimnist-capsnet-bf16")


def multimnist_compared_run(results_dir=None) -> tuple[str, object]:
    """The MultiMNIST CapsNet run trained like the CNN: ``(name, run)``.

    The first run of :data:`MULTIMNIST_CAPSNET_RUNS` present whose training
    (:func:`_same_training`: pairs, schedule, seed, number format) matches
    ``results/multimnist-cnn``'s; the shipped run (its ``results/`` folder, else the summary
    shipped with its weights) when none does or the CNN run is missing, so that the rule then
    says what differs.
    """
    shipped = shipped_run(MULTIMNIST_CAPSNET_RUNS[0], results_dir)
    cnn = load_run("multimnist-cnn", results_dir)
    if cnn is None:
        return MULTIMNIST_CAPSNET_RUNS[0], shipped
    for name in MULTIMNIST_CAPSNET_RUNS:
        run = (
            shipped
            if name == MULTIMNIST_CAPSNET_RUNS[0]
            else load_run(name, results_dir)
        )
        if run is not None and not _same_training(run.summary, cnn.summary):
            return name, run
    return MULTIMNIST_CAPSNET_RUNS[0], shipped


def trained_verdicts(
    results_dir: str | os.PathLike | None = None,
) -> list[tuple[str, str, str]]:
    """Chapter 10's verdicts that come from run summaries: ``[(claim, measured, verdict), ...]``.

    The affine row from ``results/affine-capsnet`` and ``results/affine-cnn``
    (:func:`affine_verdict`; "not measured yet" while either is missing); the MultiMNIST row from
    MultiMNIST CapsNet run trained like the CNN (:func:`multimnist_compared_run`) and
    ``results/multimnist-cnn`` (:func:`multimnist_verdict`); its measurement names that run.  The notebook's table
    shows these rows as they are, and the tests apply the same rules to ``results/``.
    """
    caps, cnn = (
        load_run("affine-capsnet", results_dir),
        load_run("affine-cnn", results_dir),
    )
    if caps is None or cnn is None:
        missing = [
            n for n, r in (("affine-capsnet", caps), ("affine-cnn", cnn)) if r is None
        ]
        affine = Verdict(
            "not measured yet",
            f"{' and '.join(f'results/{m}' for m in missing)} missing: make them with "
            "`bash scripts/train_shipped_models.sh affine`",
        )
    else:
        affine = affine_verdict(caps.summary, cnn.summary)
    multi_name, multi = multimnist_compared_run(results_dir)
    multi_cnn = load_run("multimnist-cnn", results_dir)
    multimnist = multimnist_verdict(
        multi.summary, multi_cnn.summary if multi_cnn else None
    )
    if multi_cnn is not None:
        multimnist = Verdict(
            multimnist.verdict,
            f"{multimnist.measured}; CapsNet run results/{multi_name}",
        )
    return [
        (AFFINE_CLAIM, affine.measured, affine.verdict),
        (MULTIMNIST_CLAIM, multimnist.measured, multimnist.verdict),
    ]

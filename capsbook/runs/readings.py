"""Chapter 8's bookkeeping: tables, figures and sentences read from a run's record.

The chapter keeps visible the code a learner should read (the training call, the
schedule, the rules); what only turns a record into a table row, a figure or a
sentence lives here, tested:

* the live run: :func:`live_loss_figure` (Fig. 8.3) and :func:`epoch_rows`;
* the shipped run: :func:`shipped_rows` (its record as a table) and
  :func:`validation_figure` (Fig. 8.5), read by :func:`flat_reading`;
* time to accuracy: :func:`time_to_accuracy_rows`, from the runs trained with
  ``--test-each-epoch`` (:data:`TIME_TO_ACCURACY_RUNS`);
* Table 1: :func:`table1_rows` (the paper's rows, the quoted re-implementations
  and ours) and :func:`table1_elsewhere` (where the book measures the other
  variants).
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

from . import recorded
from .folder import default_results_dir, load_run

__all__ = [
    "PAPER_TABLE1",
    "cpu_phrase",
    "epoch_rows",
    "flat_reading",
    "live_loss_figure",
    "median_epoch_s",
    "shipped_rows",
    "table1_elsewhere",
    "table1_rows",
    "table1_span",
    "time_to_accuracy_rows",
    "TIME_TO_ACCURACY_RUNS",
    "validation_figure",
]

#: The time-to-accuracy runs (``bash scripts/train_shipped_models.sh time-small`` /
#: ``time-paper``): results folder -> the network's name on the page.
TIME_TO_ACCURACY_RUNS = {
    "time-small-capsnet": "small CapsNet",
    "time-paper-capsnet": "paper CapsNet",
}

#: Table 1 of Sabour et al. (2017): (network, routing iterations, reconstruction,
#: MNIST test error in %, MultiMNIST test error in %), quoted.
PAPER_TABLE1 = (
    ("Baseline CNN", "-", "-", "0.39", "8.1"),
    ("CapsNet", "1", "no", "0.34 ± 0.032", "-"),
    ("CapsNet", "1", "yes", "0.29 ± 0.011", "7.5"),
    ("CapsNet", "3", "no", "0.35 ± 0.036", "-"),
    ("CapsNet", "3", "yes", "0.25 ± 0.005", "5.2"),
)

#: Xifeng Guo's re-implementations, quoted from their READMEs (means of 3 runs,
#: tested on their validation data, which is the test set).
QUOTED_REIMPLEMENTATIONS = (
    ("CapsNet-Keras, X. Guo (quoted)", "0.34 ± 0.009 (3 runs, 30 epochs)"),
    ("CapsNet-Pytorch, X. Guo (quoted)", "0.34 ± 0.029 (3 runs, 50 epochs)"),
)


def cpu_phrase(device_name):
    """``"a CPU of 2 threads"`` from a recorded device name, or ``"a CPU"``.

    >>> cpu_phrase("CPU Intel(R) Xeon(R) Processor (2 threads, x86_64, AMX)")
    'a CPU of 2 threads'
    """
    threads = re.search(r"\((\d+) threads?", device_name or "")
    return f"a CPU of {threads[1]} threads" if threads else "a CPU"


def epoch_rows(records):
    """One row per epoch record: epoch, steps, losses and accuracies, formatted."""
    return [
        (
            r["epoch"],
            f"{r['step']:,}",
            f"{r['train_loss']:.3f}",
            f"{r['train_accuracy']:.1%}",
            f"{r['val_accuracy']:.1%}",
        )
        for r in records
        if r.get("kind") == "epoch"
    ]


def live_loss_figure(records, log_every, title):
    """Fig. 8.3: batch losses every ``log_every`` steps, validation loss per epoch."""
    import matplotlib.pyplot as plt
    import matplotlib.ticker as mticker

    steps = [r for r in records if r.get("kind") == "step"]
    epochs = [r for r in records if r.get("kind") == "epoch"]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    if steps:
        ax.plot(
            [r["step"] for r in steps],
            [r["loss"] for r in steps],
            ".-",
            label=f"training loss (every {log_every} steps)",
        )
    ax.plot(
        [r["step"] for r in epochs],
        [r["val_loss"] for r in epochs],
        "s",
        markersize=9,
        label="validation loss (end of epoch)",
    )
    for r in epochs:
        ax.axvline(r["step"], color="grey", lw=0.8, ls=":")
    ax.set(xlabel="optimiser step", ylabel="loss", yscale="log", title=title)
    plain = mticker.FuncFormatter(lambda v, _: f"{v:g}")  # 0.6, not 6x10^-1
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def median_epoch_s(run):
    """The median of a run's recorded epoch times in seconds, or ``None``."""
    times = [
        r["epoch_time_s"]
        for r in run.metrics
        if r.get("kind") == "epoch" and "epoch_time_s" in r
    ]
    return statistics.median(times) if times else None


def _shown(value, fmt="{}"):
    return "not recorded" if value is None or value != value else fmt.format(value)


def shipped_rows(run, float16_accuracy=None):
    """The shipped run's record as (quantity, value) rows; gaps say "not recorded"."""
    s = run.summary
    return [
        ("data", _shown(s.get("data"))),
        ("device", _shown(s.get("device_name") or s.get("device"))),
        ("number format", _shown(s.get("dtype"))),
        ("epochs trained", _shown(s.get("epochs"))),
        ("epoch chosen on validation", _shown(s.get("best_val_epoch"))),
        ("validation accuracy of that epoch", _shown(run.best_val_accuracy, "{:.2%}")),
        ("test accuracy (once)", _shown(run.test_accuracy, "{:.2%}")),
        (
            "test accuracy of the shipped float16 weights",
            _shown(float16_accuracy, "{:.2%}"),
        ),
        ("wall time", _shown(run.wall_time_h, "{:.1f} h")),
        ("median time per epoch", _shown(median_epoch_s(run), "{:.0f} s")),
        ("training images/s", _shown(s.get("images_per_s"), "{:.0f}")),
        ("commit", _shown(s.get("git_commit"))[:10]),
    ]


def validation_figure(run, epochs, mistakes, n_val, flat, title):
    """Fig. 8.5: losses per epoch (left) and validation error with the flat band (right).

    ``mistakes``: validation mistakes per epoch of ``epochs``, on ``n_val`` digits;
    ``flat``: ``{"most": e1, "least": e2}``, the earliest and latest epoch the paired
    rule can call the curve flat from.
    """
    import matplotlib.pyplot as plt

    errors = [100 * m / n_val for m in mistakes]
    fig, (loss_ax, err_ax) = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
    for key, label in (("train_loss", "training"), ("val_loss", "validation")):
        ep, values = run.series(key, where={"kind": "epoch"})
        loss_ax.plot(ep, values, "o-", label=label)
    loss_ax.set(xlabel="epoch", ylabel="loss (log scale)", yscale="log", title="loss")
    low, high = loss_ax.get_ylim()
    loss_ticks = [
        t for t in (0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5) if low <= t <= high
    ]
    loss_ax.set_yticks(loss_ticks, labels=[f"{t:g}" for t in loss_ticks])
    loss_ax.set_ylim(low, high)
    err_ax.plot(epochs, errors, "s-", color="C1", label="validation error")
    err_ax.axvspan(
        flat["most"],
        flat["least"],
        color="grey",
        alpha=0.25,
        label="flat from an epoch in here",
    )
    err_ax.set(xlabel="epoch", ylabel="error (%, log scale)", yscale="log")
    err_ax.set_ylim(0.9 * min(errors), 1.1 * max(errors))
    err_ax.set(title=f"validation error ({n_val:,} digits)")
    err_ticks = [0.5, 0.6, 0.8, 1, 1.5, 2]
    err_ax.set_yticks(err_ticks, labels=[f"{t:g}" for t in err_ticks])
    digits_ax = err_ax.secondary_yaxis(
        "right", functions=(lambda p: p * n_val / 100, lambda m: m * 100 / n_val)
    )
    mistake_ticks = [round(t * n_val / 100) for t in err_ticks]
    digits_ax.set_yticks(mistake_ticks, labels=[str(m) for m in mistake_ticks])
    digits_ax.set_ylabel("mistakes")
    for a in (loss_ax, err_ax, digits_ax):
        a.minorticks_off()
    for a in (loss_ax, err_ax):
        a.set_xticks([1, 5, 10, 15, 20] if epochs[-1] == 20 else list(epochs))
        a.legend()
        a.grid(alpha=0.3)
    fig.suptitle(title)
    return fig


def flat_reading(epochs, mistakes, n_val, flat):
    """Two sentences for Fig. 8.5: how the validation error fell, and what the flat rule saw.

    Returns ``(curve, lever)``: ``curve`` says where the error started, where it was
    lowest and from which epoch the paired rule calls it flat; ``lever`` says how large
    a gain after that epoch the rule would have seen, and whether one came.
    """
    best = mistakes.index(min(mistakes))
    early, late = flat["most"], flat["least"]
    i_late = epochs.index(late)
    where = (
        f"epoch {early}, whatever digits the epochs got wrong"
        if early == late
        else f"epoch {early} at the earliest and epoch {late} at the latest (in between, "
        "the verdict depends on which digits each epoch got wrong, which was not recorded)"
    )
    curve = (
        f"the validation error falls from {100 * mistakes[0] / n_val:.2f}% "
        f"({mistakes[0]} digits) after epoch {epochs[0]} to its lowest, "
        f"{100 * mistakes[best] / n_val:.2f}% ({mistakes[best]} digits), at epoch "
        f"{epochs[best]} of {epochs[-1]}; by the paired rule it is flat from {where}"
    )
    later = mistakes[i_late + 1 :]
    gain = recorded.smallest_detectable_gain(
        mistakes[i_late], n_val, discordance="most"
    )
    if not later or gain is None:
        return curve, (
            "the error is flat only over the last epochs, so the record cannot say "
            "whether more epochs would help"
        )
    best_gain = mistakes[i_late] - min(later)
    came = (
        f"the best later epoch made {best_gain} fewer"
        if best_gain > 0
        else "no later epoch made fewer"
    )
    lever = (
        f"against epoch {late}'s {mistakes[i_late]} mistakes, a later epoch needed "
        f"{gain} fewer to count as better whatever digits the two got wrong; {came}. "
        f"So the last {epochs[-1] - late} epochs brought no gain of {gain} digits or "
        f"more; a smaller gain the rule could miss"
    )
    return curve, lever


def _network(run):
    v = run.variant()
    if v["model"] == "baseline":
        return "Baseline CNN"
    rec = {None: "", True: ", reconstruction", False: ", no reconstruction"}
    return (
        f"CapsNet {v['model_config']}, {v['routing_iterations']} it."
        + rec[v["reconstruction"]]
    )


def _our_row(source, run, error_percent):
    images_per_s = run.get("images_per_s")
    device = "GPU" if "cuda" in str(run.get("device")) else "CPU"
    speed = f"{images_per_s:,.0f} ({device})" if images_per_s else "-"
    return (source, _network(run), f"{error_percent:.2f} (1 run)", "-", speed)


def table1_rows(shipped=None, shipped_error_percent=None, results_dir=None):
    """Table 1's rows: the paper's, the quoted re-implementations, then ours.

    ``shipped`` (a :class:`~capsbook.runs.Run`) joins with ``shipped_error_percent``;
    the runs of :func:`capsbook.runs.recorded.table1_runs` join after it.
    """
    recs = {"yes": ", reconstruction", "no": ", no reconstruction", "-": ""}
    rows = [
        (
            "paper",
            name if it == "-" else f"{name}, {it} it.{recs[rec]}",
            mnist,
            multi,
            "-",
        )
        for name, it, rec, mnist, multi in PAPER_TABLE1
    ]
    rows += [
        (source, "CapsNet, 3 it., reconstruction", error, "-", "-")
        for source, error in QUOTED_REIMPLEMENTATIONS
    ]
    if shipped is not None and shipped_error_percent is not None:
        source = f"this book: shipped ({shipped.get('epochs')} epochs)"
        rows.append(_our_row(source, shipped, shipped_error_percent))
    for run in recorded.table1_runs(results_dir):
        rows.append(_our_row(f"this book: {run.name}", run, run.test_error_percent))
    return rows


def table1_span():
    """The span of the paper's CapsNet MNIST errors in Table 1, in percentage points."""
    errors = [float(r[3].split()[0]) for r in PAPER_TABLE1 if r[0] == "CapsNet"]
    return max(errors) - min(errors)


def table1_elsewhere(results_dir=None):
    """Where the book measures Table 1's other variants: ``{key: text}`` for the glue.

    Keys ``r1``, ``r3`` (chapter 7's test-time routing iterations), ``sum``, ``none``
    (chapter 6's reconstruction losses), ``multimnist-capsnet``, ``multimnist-cnn``
    (chapter 10) and ``mm_epochs``; a record missing here reads "not recorded in this
    checkout".
    """
    folder = Path(results_dir) if results_dir is not None else default_results_dir()
    found = {}
    routing = folder / "routing-iterations.json"
    if routing.is_file():
        by_k = json.loads(routing.read_text(encoding="utf-8"))["errors"]
        found["r1"], found["r3"] = f"{by_k['1']}", f"{by_k['3']}"
    losses = folder / "reconstruction-losses.json"
    if losses.is_file():
        runs = json.loads(losses.read_text(encoding="utf-8"))["runs"]
        found["sum"] = f"{runs['sum']['test_errors']}"
        found["none"] = f"{runs['none']['test_errors']}"
    for name in ("multimnist-capsnet", "multimnist-cnn"):
        run = load_run(name, folder)
        if run is not None and run.test_error_percent is not None:
            found[name] = f"{run.test_error_percent:.1f}%"
            if name == "multimnist-capsnet":
                found["mm_epochs"] = f"{run.get('epochs')}"
    keys = ("r1", "r3", "sum", "none", "multimnist-capsnet", "multimnist-cnn")
    out = {k: found.get(k, "not recorded in this checkout") for k in keys}
    out["mm_epochs"] = found.get("mm_epochs", "its")
    return out


def _processor(device_name):
    """``"AMD EPYC, 2 threads"`` from ``"CPU AMD EPYC (2 threads, x86_64, AVX-512)"``."""
    name = (device_name or "not recorded").removeprefix("CPU ").replace("(R)", "")
    model, _, details = name.partition(" (")
    threads = details.split(",")[0]
    return f"{model.strip()}, {threads}" if threads else model.strip()


def time_to_accuracy_rows(results_dir=None) -> list[tuple[str, ...]]:
    """One row per :data:`TIME_TO_ACCURACY_RUNS` entry: ``(network, dtype, processor,
    99.0% reached, training time, wall time, 99.5%, speed during the run)``.

    Read from each run's ``summary.json`` (``time_to_test_accuracy``); a run not made yet
    gets a row saying so, with the command that makes it.  The last column gives the
    epochs' slowest and fastest images/s: a spread says the machine was shared.
    """
    from capslib.train import read_metrics, time_to_accuracy

    rows = []
    for name, network in TIME_TO_ACCURACY_RUNS.items():
        run = load_run(name, results_dir)
        if run is None or not run.summary.get("test_each_epoch"):
            stage = "time-small" if "small" in name else "time-paper"
            rows.append(
                (
                    network,
                    "-",
                    "-",
                    "not measured yet",
                    "-",
                    "-",
                    "-",
                    f"make it: bash scripts/train_shipped_models.sh {stage}",
                )
            )
            continue
        s = run.summary
        epochs = [r for r in read_metrics(run.path) if r.get("kind") == "epoch"]
        cells = []
        for target in (0.99, 0.995):
            hit = time_to_accuracy(epochs, target)
            best = max(r["test_accuracy"] for r in epochs)
            cells.append(
                hit
                if hit is not None
                else f"not reached in {len(epochs)} epochs (best {best:.2%})"
            )
        first, second = cells
        speeds = [r["images_per_s"] for r in epochs]
        rows.append(
            (
                f"{network} ({s['parameters']:,} parameters)",
                s["dtype"],
                _processor(s["device_name"]),
                f"epoch {first['epoch']} ({first['test_accuracy']:.2%})"
                if isinstance(first, dict)
                else first,
                f"{first['train_time_s'] / 60:.1f} min"
                if isinstance(first, dict)
                else "-",
                f"{first['wall_time_s'] / 60:.1f} min"
                if isinstance(first, dict)
                else "-",
                f"epoch {second['epoch']}, {second['wall_time_s'] / 60:.1f} min wall"
                if isinstance(second, dict)
                else second,
                f"{min(speeds):,.0f}-{max(speeds):,.0f} images/s",
            )
        )
    return rows

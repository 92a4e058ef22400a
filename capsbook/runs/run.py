"""One training run as read from ``results/<name>/``: its summary, its metrics, and what they say."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path


class RunNotFoundError(FileNotFoundError):
    """No ``summary.json`` for the requested run: the run has not been made (or not copied here)."""


class RunFormatError(ValueError):
    """A run's files exist but are not what the training CLI writes."""


# Names under which the quantities the notebooks need may appear in summary.json.
# The first one found wins; nested keys are written "outer.inner".
_ALIASES: dict[str, tuple[str, ...]] = {
    "test_accuracy": (
        "test_accuracy",
        "final_test_accuracy",
        "test_acc",
        "test.accuracy",
    ),
    "best_val_accuracy": (
        "best_val_accuracy",
        "best_validation_accuracy",
        "best_val_acc",
        "val_accuracy",
        "validation.best_accuracy",
    ),
    "images_per_s": (
        "images_per_s",
        "images_per_second",
        "train_images_per_s",
        "throughput",
    ),
    "wall_time_s": ("wall_time_s", "wall_s", "wall_time", "elapsed_s"),
    "device": ("device_name", "device", "provenance.device_name", "provenance.device"),
    "mode": ("mode", "provenance.mode"),
    "epochs": ("epochs", "config.epochs"),
    "dataset": ("dataset", "data.name", "data.dataset", "config.dataset"),
    "git_commit": ("git_commit", "commit", "provenance.git_commit"),
    "torch": ("torch_version", "torch", "versions.torch", "provenance.torch_version"),
}


def _lookup(mapping: dict, dotted: str):
    value = mapping
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


@dataclass
class Run:
    """One training run read from ``results/<name>/``.

    ``summary``: the parsed ``summary.json``; ``metrics``: the records of
    ``metrics.jsonl`` in file order (empty if the file is absent).
    """

    name: str
    path: Path
    summary: dict
    metrics: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def get(self, quantity: str, default=None):
        """A value from the summary by its usual name (``"test_accuracy"``, ``"device"``, ...).

        Known quantities are looked up under the names the training CLI may use
        for them; any other name is looked up as given (``"outer.inner"`` for
        nested keys).
        """
        for key in _ALIASES.get(quantity, (quantity,)):
            value = _lookup(self.summary, key)
            if value is not None:
                return value
        return default

    @property
    def test_accuracy(self) -> float | None:
        """The final test accuracy as a fraction in [0, 1] (converted if the file stores percent).

        ``None`` when the summary does not record it, or records NaN (an export made while the run
        was still going has no test accuracy yet).
        """
        value = self.get("test_accuracy")
        return None if _missing(value) else _fraction(float(value))

    @property
    def test_error_percent(self) -> float | None:
        """100 x (1 - test accuracy): the number the paper's Table 1 reports."""
        accuracy = self.test_accuracy
        return None if accuracy is None else 100.0 * (1.0 - accuracy)

    @property
    def best_val_accuracy(self) -> float | None:
        value = self.get("best_val_accuracy")
        return None if _missing(value) else _fraction(float(value))

    @property
    def test_errors(self) -> int | None:
        """The number of test examples the chosen model got wrong (from the accuracy and ``test_size``)."""
        accuracy, size = self.test_accuracy, self.get("test_size")
        if accuracy is None or _missing(size):
            return None
        return round((1.0 - accuracy) * int(size))

    @property
    def wall_time_h(self) -> float | None:
        """The run's wall time in hours (``wall_time_s`` of the summary), or ``None``."""
        value = self.get("wall_time_s")
        return None if _missing(value) else float(value) / 3600.0

    def provenance(self) -> str:
        """One line saying where the numbers come from: mode, data, device, epochs, wall time, commit, torch."""
        parts = [f"run={self.name}"]
        for label, quantity in (
            ("mode", "mode"),
            ("data", "dataset"),
            ("device", "device"),
            ("epochs", "epochs"),
            ("wall", "wall_time_s"),
            ("commit", "git_commit"),
            ("torch", "torch"),
        ):
            value = self.get(quantity)
            if _missing(value):
                continue
            if isinstance(value, str) and quantity == "git_commit":
                value = value[:10]
            elif quantity == "wall_time_s":
                value = _duration(float(value))
            parts.append(f"{label}={value}")
        return " | ".join(parts)

    def series(
        self, key: str, *, x: str = "epoch", where: dict | None = None
    ) -> tuple[list, list]:
        """The metric ``key`` over training: two lists ``(xs, ys)`` from the records that have both.

        ``where`` keeps only records whose fields equal the given values,
        e.g. ``where={"split": "val"}``.  Records without ``x`` use their index.
        """
        xs, ys = [], []
        for index, record in enumerate(self.metrics):
            if where and any(record.get(k) != v for k, v in where.items()):
                continue
            value = record.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                xs.append(record.get(x, index))
                ys.append(value)
        return xs, ys

    def variant(self) -> dict:
        """What was trained, for tables such as the paper's Table 1.

        ``{"model", "model_config", "dataset", "mode", "routing_iterations", "reconstruction"}``;
        a CapsNet run that does not record its routing iterations used the
        paper's 3, and one that does not record ``reconstruction`` had the
        decoder (the CLI's default).  The baseline CNN has ``None`` for both.
        """
        config = (
            self.summary.get("config")
            if isinstance(self.summary.get("config"), dict)
            else {}
        )
        model = self.summary.get("model", config.get("model", "capsnet"))
        capsnet = model == "capsnet"
        iterations = config.get(
            "routing_iterations", self.summary.get("routing_iterations")
        )
        reconstruction = config.get(
            "reconstruction", self.summary.get("reconstruction")
        )
        return {
            "model": model,
            "model_config": self.summary.get("model_config", config.get("config")),
            "dataset": self.get("dataset"),
            "mode": self.get("mode"),
            "routing_iterations": (iterations if iterations is not None else 3)
            if capsnet
            else None,
            "reconstruction": (reconstruction if reconstruction is not None else True)
            if capsnet
            else None,
        }

    def metric_names(self) -> list[str]:
        """The numeric fields found in the metrics records, in first-seen order."""
        names: dict[str, None] = {}
        for record in self.metrics:
            for key, value in record.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    names.setdefault(key, None)
        return list(names)


def _missing(value) -> bool:
    """``None``, or a float NaN (JSON written by Python may hold ``NaN`` for "not measured")."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _duration(seconds: float) -> str:
    """``"42 s"``, ``"12.5 min"`` or ``"3.1 h"``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _fraction(value: float) -> float:
    """Accuracies are fractions; a value above 1 was written in percent."""
    if not math.isfinite(value) or value < 0 or value > 100:
        raise RunFormatError(
            f"expected an accuracy in [0, 1] or in percent, got {value}"
        )
    return value / 100.0 if value > 1.0 else value


__all__ = ["Run", "RunFormatError", "RunNotFoundError"]

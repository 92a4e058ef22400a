"""A per-layer table of output shapes and parameter counts, from a real forward pass.

Chapter 7 walks through the shapes of CapsNet (28x28 image, 20x20x256
feature maps, 1152 primary capsules of 8D, 10 digit capsules of 16D, the
decoder) and its parameter counts (capslib's CapsNet: 8,215,568 in all,
6,804,224 without the decoder; Sabour, Frosst & Hinton 2017 print only "8.2M"
and "6.8M", and the official implementation has 160 more, a bias per DigitCaps
value).  Those numbers should not be typed by hand: :func:`layer_table` runs the model once on a zero batch, records what
each layer returned with forward hooks, and counts each layer's parameters::

    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten())
    >>> table = layer_table(model, (2, 1, 5, 5))
    >>> [(row.name, row.output_shape, row.params) for row in table.rows]
    [('0', (2, 4, 3, 3), 40), ('1', (2, 4, 3, 3), 0), ('2', (2, 36), 0)]
    >>> table.total_params
    40

A layer's count includes its sub-layers' parameters; parameters that belong to
no listed layer appear in a row of their own, so the rows always add up to the
model's total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from capslib.nn import count_parameters  # re-exported: exercise 7 imports it from here

__all__ = ["LayerRow", "LayerTable", "count_parameters", "layer_table"]


@dataclass(frozen=True)
class LayerRow:
    """One line of a :class:`LayerTable`.

    ``output_shape`` is the shape of the tensor the layer returned (batch
    dimension included), or a tuple of shapes when it returned several tensors,
    or ``None`` when the layer did not run during the forward pass.
    """

    name: str
    kind: str
    output_shape: tuple | None
    params: int
    trainable_params: int


@dataclass
class LayerTable:
    """The rows of :func:`layer_table`, printable as a text table (``print(table)``)."""

    rows: list[LayerRow]
    input_shape: tuple[int, ...]
    total_params: int
    trainable_params: int
    model_name: str = ""
    notes: list[str] = field(default_factory=list)

    def params_of(self, name: str) -> int:
        """The parameter count of the row called ``name``."""
        for row in self.rows:
            if row.name == name:
                return row.params
        raise KeyError(
            f"layer_table: no row named {name!r}; rows are {[row.name for row in self.rows]}"
        )

    def as_dicts(self) -> list[dict]:
        """The rows as plain dictionaries (for JSON or a DataFrame)."""
        return [
            dict(
                name=r.name,
                kind=r.kind,
                output_shape=r.output_shape,
                params=r.params,
                trainable_params=r.trainable_params,
            )
            for r in self.rows
        ]

    def __str__(self) -> str:
        header = ("layer", "type", "output shape", "parameters")
        lines = [
            (r.name, r.kind, _format_shape(r.output_shape), f"{r.params:,}")
            for r in self.rows
        ]
        widths = [
            max(len(header[i]), *(len(line[i]) for line in lines))
            if lines
            else len(header[i])
            for i in range(4)
        ]

        def fmt(cells):
            return "  ".join(
                [
                    cells[0].ljust(widths[0]),
                    cells[1].ljust(widths[1]),
                    cells[2].ljust(widths[2]),
                    cells[3].rjust(widths[3]),
                ]
            )

        rule = "-" * len(fmt(header))
        title = (
            f"{self.model_name or 'model'} on input {_format_shape(self.input_shape)}"
        )
        out = [title, fmt(header), rule, *(fmt(line) for line in lines), rule]
        out.append(fmt(("total", "", "", f"{self.total_params:,}")))
        if self.trainable_params != self.total_params:
            out.append(fmt(("trainable", "", "", f"{self.trainable_params:,}")))
        out.extend(self.notes)
        return "\n".join(out)


def _format_shape(shape) -> str:
    if shape is None:  # the layer did not run (or the row holds parameters of no layer)
        return "-"
    if len(shape) > 0 and all(isinstance(s, tuple) for s in shape):
        return " + ".join(_format_shape(s) for s in shape)
    return str(tuple(int(s) for s in shape))


def _output_shape(output):
    """The shape of a layer's output: a tensor's shape, or the shapes of the tensors in a tuple/named result."""
    if isinstance(output, torch.Tensor):
        return tuple(output.shape)
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        shapes = tuple(
            tuple(item.shape) for item in output if isinstance(item, torch.Tensor)
        )
        return shapes if shapes else None
    return None


def _modules_at_depth(model: nn.Module, depth: int) -> list[tuple[str, nn.Module]]:
    """Named modules ``depth`` levels below ``model`` (a leaf shallower than that is kept as is)."""
    frontier = [("", model)]
    for _ in range(depth):
        deeper = []
        for prefix, module in frontier:
            children = list(module.named_children())
            if not children and module is not model:
                deeper.append((prefix, module))
            for name, child in children:
                deeper.append((f"{prefix}.{name}" if prefix else name, child))
        frontier = deeper
    return frontier


def layer_table(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    depth: int = 1,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    **forward_kwargs,
) -> LayerTable:
    """Run ``model`` once on zeros of ``input_shape`` and tabulate each layer's output shape and parameters.

    ``input_shape``: the whole input shape, batch included, e.g. ``(1, 1, 28, 28)``.
    ``depth``: 1 lists the model's direct children, 2 their children, and so on.
    ``forward_kwargs`` are passed to ``model.forward``.  The model runs in
    evaluation mode without gradients and is put back in the mode it was in.
    Returns a :class:`LayerTable` whose rows add up to the model's parameter count.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"layer_table: expected a torch.nn.Module, got {type(model).__name__}"
        )
    if isinstance(input_shape, torch.Size):
        input_shape = tuple(input_shape)
    if (
        not isinstance(input_shape, Sequence)
        or isinstance(input_shape, str)
        or len(input_shape) == 0
        or not all(
            isinstance(s, int) and not isinstance(s, bool) and s > 0
            for s in input_shape
        )
    ):
        raise ValueError(
            f"layer_table: expected input_shape as a tuple of positive integers with the batch "
            f"first, e.g. (1, 1, 28, 28), got {input_shape!r}"
        )
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"layer_table: expected depth >= 1, got {depth!r}")
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")

    layers = _modules_at_depth(model, depth)
    shapes: dict[str, tuple | None] = {name: None for name, _ in layers}
    handles = []
    for name, module in layers:

        def hook(_module, _inputs, output, name=name):
            if (
                shapes[name] is None
            ):  # the first call is the one that matters for a walk-through
                shapes[name] = _output_shape(output)

        handles.append(module.register_forward_hook(hook))

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(
                torch.zeros(tuple(input_shape), dtype=dtype, device=device),
                **forward_kwargs,
            )
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)

    rows, counted = [], set()
    for name, module in layers:
        params = [p for p in module.parameters() if id(p) not in counted]
        counted.update(id(p) for p in params)
        rows.append(
            LayerRow(
                name=name,
                kind=type(module).__name__,
                output_shape=shapes[name],
                params=count_parameters(params),
                trainable_params=count_parameters(params, trainable_only=True),
            )
        )
    rest = [p for p in model.parameters() if id(p) not in counted]
    if rest:
        rows.append(
            LayerRow(
                name="(other parameters)",
                kind="",
                output_shape=None,
                params=count_parameters(rest),
                trainable_params=count_parameters(rest, trainable_only=True),
            )
        )
    table = LayerTable(
        rows=rows,
        input_shape=tuple(input_shape),
        total_params=count_parameters(model),
        trainable_params=count_parameters(model, trainable_only=True),
        model_name=type(model).__name__,
    )
    assert sum(r.params for r in rows) == table.total_params, (
        "layer_table: rows must add up to the total"
    )
    return table

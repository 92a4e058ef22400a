"""The bytes at the start of an IDX file, drawn one box per byte, with what each group means.

:func:`idx_fields` parses a header (the magic number's four bytes, one big-endian
32-bit size per dimension, then the data) with nothing but the standard
library; :func:`idx_layout` draws chapter 0's diagram from the real bytes it is
given, so the figure cannot disagree with the file.
"""

from __future__ import annotations

from capslib.data.idx import IDX_DTYPES

from ._style import COLOURS, FONT, GREY, PALE, box, new_figure, text

#: Every text of this diagram: it is drawn 750 px wide and often shown narrower, and its
#: bytes are small boxes, so it uses larger type than the 9 pt floor.
SIZE = FONT + 2

#: How the book names each element type of the IDX specification.
TYPE_NAMES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "16-bit integer",
    0x0C: "32-bit integer",
    0x0D: "32-bit float",
    0x0E: "64-bit float",
}
#: The names chapter 0 gives the three sizes of an image file.
AXIS_NAMES = ("images", "rows", "columns")


def idx_fields(raw: bytes) -> dict:
    """The header of the IDX file ``raw`` (decompressed bytes), field by field.

    Returns ``magic`` (the first 4 bytes), ``type_code``, ``type_name``,
    ``ndim``, ``sizes`` (one int per dimension), ``header_bytes``
    (``4 + 4 * ndim``), ``item_bytes`` (bytes per element) and ``data_bytes``
    (the elements' bytes the header announces).  Raises ``ValueError`` naming the
    problem when ``raw`` does not start like an IDX file.
    """
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            "not an IDX file: it must start with two zero bytes "
            f"(got {raw[:4].hex(' ') or 'nothing'}); pass the decompressed bytes "
            "(gzip.decompress) of an MNIST file"
        )
    type_code, ndim = raw[2], raw[3]
    if type_code not in IDX_DTYPES:
        raise ValueError(f"unknown IDX type code 0x{type_code:02x}")
    header_bytes = 4 + 4 * ndim
    if len(raw) < header_bytes:
        raise ValueError(f"the header needs {header_bytes} bytes, got {len(raw)}")
    sizes = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    item_bytes = IDX_DTYPES[type_code].itemsize
    count = 1
    for size in sizes:
        count *= size
    return {
        "magic": raw[:4],
        "type_code": type_code,
        "type_name": TYPE_NAMES[type_code],
        "ndim": ndim,
        "sizes": sizes,
        "header_bytes": header_bytes,
        "item_bytes": item_bytes,
        "data_bytes": count * item_bytes,
    }


def group_labels(fields: dict) -> list[tuple[str, str]]:
    """The diagram's label under each 4-byte group of the header: (what, its value)."""
    labels = [
        (
            "magic number",
            f"type {fields['type_code']:02X}, {fields['ndim']} dim{'s' * (fields['ndim'] != 1)}",
        )
    ]
    names = AXIS_NAMES if fields["ndim"] == 3 else ()
    for i, size in enumerate(fields["sizes"]):
        what = f"size {i}" + (f": {names[i]}" if names else "")
        labels.append((what, f"{size:,}"))
    return labels


def idx_layout(raw: bytes):
    """Chapter 0's diagram: the header bytes of ``raw``, grouped and read, then the data.

    One box per header byte, in hexadecimal, with its offset above each group;
    under each group what it means and its value; after the header, one box
    standing for all the data bytes, with their count and the first few values.
    """
    fields = idx_fields(raw)
    n = fields["header_bytes"]
    if n > 16:
        raise ValueError(f"the diagram draws headers of up to 3 dimensions, got {n}")
    fig, ax = new_figure(2.3)
    cell, x0, y0 = 0.345, 0.1, 1.15
    groups = [COLOURS["parent"]] + [COLOURS["capsule"]] * fields["ndim"]
    pales = [PALE["parent"]] + [PALE["capsule"]] * fields["ndim"]
    for i in range(n):
        g = i // 4
        box(ax, x0 + i * cell, y0, cell, cell, face=pales[g], edge=GREY, lw=0.8)
        text(ax, x0 + (i + 0.5) * cell, y0 + cell / 2, f"{raw[i]:02X}", size=SIZE)
    for g, (what, value) in enumerate(group_labels(fields)):
        left = x0 + 4 * g * cell
        text(
            ax,
            left,
            y0 + cell + 0.2,
            f"byte {4 * g}",
            size=SIZE,
            colour=GREY,
            ha="left",
        )
        ax.plot(
            [left + 0.03, left + 4 * cell - 0.03],
            [y0 - 0.08] * 2,
            color=groups[g],
            lw=2.2,
            solid_capstyle="butt",
        )
        text(ax, left + 2 * cell, y0 - 0.3, what, size=SIZE, colour=groups[g])
        text(ax, left + 2 * cell, y0 - 0.62, value, size=SIZE, weight="bold")
    # the data: one box for all of it
    dx = x0 + n * cell + 0.1
    width = 7.5 - dx - 0.08
    box(ax, dx, y0, width, cell, face=PALE["agree"], edge=COLOURS["agree"], lw=1.0)
    first = " ".join(f"{b:02X}" for b in raw[n : n + 3])
    text(ax, dx + width / 2, y0 + cell / 2, f"{first} ...", size=SIZE)
    text(ax, dx, y0 + cell + 0.2, f"byte {n}", size=SIZE, colour=GREY, ha="left")
    per = "1 byte" if fields["item_bytes"] == 1 else f"{fields['item_bytes']} bytes"
    text(
        ax,
        dx + width / 2,
        y0 - 0.3,
        f"data: {per} a value",
        size=SIZE,
        colour=COLOURS["agree"],
    )
    text(
        ax,
        dx + width / 2,
        y0 - 0.62,
        f"{fields['data_bytes']:,} bytes",
        size=SIZE,
        weight="bold",
    )
    text(
        ax,
        3.75,
        0.16,
        "big-endian: 00 00 27 10 is 0x2710 = 10,000 (most significant byte first)"
        if fields["sizes"][:1] == [10_000]
        else "sizes are big-endian: the most significant byte first",
        size=SIZE,
        colour=GREY,
    )
    return fig

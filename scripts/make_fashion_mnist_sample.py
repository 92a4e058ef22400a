#!/usr/bin/env python3
"""Make (or check) the Fashion-MNIST sample bundled in capslib/data/fashion-mnist-sample/.

The sample is drawn from the complete, official Fashion-MNIST (Xiao, Rasul &
Vollgraf 2017), the way the MNIST sample is: class-balanced, with a fixed
seed, so that anyone holding the complete set gets the same files again.

* training sample: 500 images of each class (5,000) from the 60,000 official
  training images;
* test sample: 200 images of each class (2,000) from the 10,000 official
  test images.

Each class's images are drawn without replacement with
``numpy.random.default_rng(SEED)`` (the training set) and
``numpy.random.default_rng(SEED + 1)`` (the test set), then the drawn images are
shuffled with the same generator, so that the first n images of a split are a
mixture of all classes.  The files keep the official IDX format (gzip).

Usage (from the repository root, with capslib importable)::

    python scripts/make_fashion_mnist_sample.py                 # from /usr/share/datasets/fashion-mnist
    python scripts/make_fashion_mnist_sample.py --source DIR    # a folder holding the four official files
    python scripts/make_fashion_mnist_sample.py --check         # redraw and compare with the bundled files

The complete set comes from Debian's package ``dataset-fashion-mnist``
(``apt-get install dataset-fashion-mnist``) or from the dataset's GitHub
repository (zalandoresearch/fashion-mnist).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from capslib.data.idx import read_idx, write_idx  # noqa: E402

SEED = 2017  # the year of the dataset; the test set uses SEED + 1
TRAIN_PER_CLASS = 500
TEST_PER_CLASS = 200
NUM_CLASSES = 10
DEFAULT_SOURCE = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_OUT = REPO / "capslib" / "data" / "fashion-mnist-sample"
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def draw_balanced(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Indices of ``per_class`` examples of each class, drawn without replacement and shuffled."""
    rng = np.random.default_rng(seed)
    chosen = []
    for k in range(NUM_CLASSES):
        of_class = np.flatnonzero(labels == k)
        if len(of_class) < per_class:
            raise ValueError(
                f"class {k} has {len(of_class)} examples, fewer than the {per_class} to draw"
            )
        chosen.append(rng.choice(of_class, size=per_class, replace=False))
    return rng.permutation(np.concatenate(chosen))


def find_split(source: Path, split: str) -> tuple[Path, Path]:
    paths = []
    for name in FILES[split]:
        for candidate in (source / name, source / name.removesuffix(".gz")):
            if candidate.is_file():
                paths.append(candidate)
                break
        else:
            raise SystemExit(
                f"error: {source} lacks {name}: point --source at the complete Fashion-MNIST "
                "(`apt-get install dataset-fashion-mnist` puts it in /usr/share/datasets/fashion-mnist)"
            )
    return paths[0], paths[1]


def make_split(source: Path, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images, labels, indices into the official split) of the sample of ``split``."""
    images_path, labels_path = find_split(source, split)
    images = read_idx(images_path, expected_ndim=3, expected_shape=(None, 28, 28))
    labels = read_idx(labels_path, expected_ndim=1)
    expected = {"train": 60_000, "test": 10_000}[split]
    if len(images) != expected or len(labels) != expected:
        raise SystemExit(
            f"error: {images_path} holds {len(images):,} images, the official {split} set "
            f"has {expected:,}: this is not the complete Fashion-MNIST"
        )
    per_class, seed = (
        (TRAIN_PER_CLASS, SEED) if split == "train" else (TEST_PER_CLASS, SEED + 1)
    )
    index = draw_balanced(labels, per_class, seed)
    return images[index], labels[index], index


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=DEFAULT_SOURCE,
        help=f"folder with the complete Fashion-MNIST (default {DEFAULT_SOURCE})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"where to write (default {DEFAULT_OUT})",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write: redraw the sample and compare it with the files in --out",
    )
    args = parser.parse_args(argv)

    problems = []
    for split in ("train", "test"):
        images, labels, index = make_split(args.source, split)
        images_name, labels_name = FILES[split]
        if args.check:
            same = np.array_equal(
                read_idx(args.out / images_name), images
            ) and np.array_equal(read_idx(args.out / labels_name), labels)
            print(
                f"{split}: {len(labels):,} images {'match' if same else 'DIFFER FROM'} {args.out}"
            )
            if not same:
                problems.append(split)
            continue
        write_idx(args.out / images_name, images)
        write_idx(args.out / labels_name, labels)
        print(
            f"{split}: wrote {len(labels):,} images ({np.bincount(labels).tolist()} per class), "
            f"official indices {index.min()}..{index.max()}"
        )
    if args.check:
        return 1 if problems else 0
    names = [
        name for split in ("test", "train") for name in FILES[split]
    ]  # sorted, as sha256sum lists them
    (args.out / "SHA256SUMS").write_text(
        "".join(f"{sha256(args.out / n)}  {n}\n" for n in sorted(names))
    )
    print(f"wrote {args.out / 'SHA256SUMS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The bibliography's labels (_ext/author_year_labels.py) read as the chapters cite."""

import sys
from pathlib import Path

from pybtex.database import parse_file
from pybtex.plugin import find_plugin

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "_ext"))

import author_year_labels  # noqa: E402


def labels():
    author_year_labels.setup(None)
    style = find_plugin("pybtex.style.formatting", "author_year")()
    entries = style.format_bibliography(parse_file(ROOT / "book" / "references.bib"))
    return {entry.key: entry.label for entry in entries}


def test_labels_are_author_year_as_cited():
    found = labels()
    assert found["sabour2017dynamic"] == "Sabour et al., 2017"  # three authors
    assert found["geron2017capsnet"] == "Géron, 2017"  # LaTeX accent rendered
    assert found["hinton2018matrix"] == "Hinton et al., 2018a"  # the year's letter kept
    assert found["kingma2015adam"] == "Kingma and Ba, 2015"  # two authors


def test_labels_are_unique_and_sorted_by_author():
    found = list(labels().values())
    assert len(set(found)) == len(found)
    surnames = [label.split(",")[0].split()[0].lower() for label in found]
    assert surnames == sorted(surnames, key=lambda s: s.replace("é", "e"))

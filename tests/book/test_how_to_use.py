"""book/how_to_use.md types no measured number: a markdown page cannot glue, so it must
not copy a result that could drift from its record.

Two guards: no number with a unit of time, speed or accuracy anywhere in its prose (the
``{shipped-time}`` role, which reads a shipped model's summary at build time, is how the
page names a training time), and none of the measured values recorded in ``results/``
(times, speeds, accuracies, errors), in the ways a page would print them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "book" / "how_to_use.md"
RESULTS = ROOT / "results"

#: A number followed by a unit of a measurement: seconds, minutes, hours, a speed, a rate.
MEASURED_UNIT = re.compile(
    r"(?<![\w.])\d[\d,]*(?:\.\d+)?\s*"
    r"(?:%|s\b|sec\b|seconds?\b|CPU-(?:seconds|minutes|hours)\b|min\b|minutes?\b"
    r"|h\b|hours?\b|images/s\b|steps/s\b|ms\b)"
)
#: Keys of the records whose values are measurements, not settings.
MEASURED_KEY = re.compile(
    r"time|seconds|wall|_s$|per_s|accuracy|error|loss|median|q1|q3|rate|ratio"
)


def prose(text: str) -> str:
    """The page without its code blocks, inline code and roles' targets."""
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    text = re.sub(r"\{[\w-]+\}`[^`]*`", " ", text)  # {doc}`...`, {shipped-time}`...`
    return re.sub(r"`[^`]*`", " ", text)


def measured_values(node, key=""):
    """Every number under a measured key of a record, recursively."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from measured_values(
                v, str(k) if MEASURED_KEY.search(str(k)) else key
            )
    elif isinstance(node, list):
        for v in node:
            yield from measured_values(v, key)
    elif isinstance(node, (int, float)) and not isinstance(node, bool) and key:
        yield float(node)


def printed_forms(value: float) -> set[str]:
    """How a page would print ``value``: as is, with thousands separators, as a percent."""
    forms = set()
    if abs(value) >= 100:  # counts and seconds: 1968.1 -> 1,968 and 1968.1
        forms |= {f"{value:,.0f}", f"{value:.0f}", f"{value:,.1f}", f"{value:.1f}"}
    elif abs(value) >= 10:  # 187.5 is caught above; 12.34 -> 12.34, 12.3
        forms |= {f"{value:.2f}", f"{value:.1f}"}
    if 0 < value < 1:  # an accuracy or an error rate: 0.9961 -> 99.61, 99.6
        forms |= {f"{100 * value:.2f}", f"{100 * value:.1f}"}
        forms.discard(f"{100 * value:.0f}.0")
    # a bare small integer (20 epochs, 5,000 digits) is a setting more often than not
    return {f for f in forms if len(f.replace(",", "").replace(".", "")) >= 3}


def typed_results(text: str) -> list[str]:
    """The measured values of ``results/`` that ``text`` types, as typed."""
    words = set(re.findall(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?![\w])", prose(text)))
    words = {w.rstrip(".,") for w in words}
    found = set()
    for path in sorted(RESULTS.rglob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        for value in measured_values(record):
            found |= printed_forms(value) & words
    return sorted(found)


# The sentence the page carried before this test: both numbers come from
# results/face-seeds.json, and both guards must catch it.
OLD_SENTENCE = (
    "Chapter 10's time is that of its record, `results/face-seeds.json`: 187.5 "
    "CPU-seconds for the 20 seeds on an AMD EPYC CPU, 1 thread each (its wall clock, "
    "1,968 s, was mostly waiting for a machine shared with other work)."
)


def test_the_guards_catch_the_numbers_the_page_once_typed():
    assert {"187.5", "1,968"} <= set(typed_results(OLD_SENTENCE))
    units = [m.group(0) for m in MEASURED_UNIT.finditer(prose(OLD_SENTENCE))]
    assert units == ["187.5 CPU-seconds", "1,968 s"]
    # settings stay allowed: sizes, epochs, seeds, steps
    assert (
        typed_results("20 epochs of 55,000 digits, 1,500 steps of 64, 10 seeds") == []
    )
    assert not MEASURED_UNIT.search("20 epochs of 55,000 digits, 1,500 steps of 64")


def settings_typed() -> set[str]:
    """Numbers with a unit that are settings of the code, not measurements, each
    checked against the code so that it cannot drift either."""
    from capsbook.exercises.time_limit import TIME_LIMIT_S

    return {f"{TIME_LIMIT_S:g} s"}  # "each call may take 5 s before the check stops it"


def test_how_to_use_types_no_number_with_a_measured_unit():
    text = prose(PAGE.read_text("utf-8"))
    found = [m.group(0) for m in MEASURED_UNIT.finditer(text)]
    found = [f for f in found if f not in settings_typed()]
    assert found == [], (
        f"book/how_to_use.md types measured numbers {found}: a markdown page cannot "
        "glue; point to the chapter that shows the number, or use {shipped-time}"
    )


def test_how_to_use_types_no_value_recorded_in_results():
    found = typed_results(PAGE.read_text("utf-8"))
    assert found == [], (
        f"book/how_to_use.md types {found}, values recorded in results/: a copy drifts "
        "from its record; point to the page that reads the record instead"
    )

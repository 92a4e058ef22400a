"""The report an exercise check prints: one line per property, passed or not."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class CheckReport:
    """The outcome of one exercise check.

    Use :meth:`expect` for each property; the report prints itself at the end
    of :func:`check` and is truthy when everything passed.
    """

    title: str
    results: list[tuple[str, bool, str]] = field(default_factory=list)

    def expect(self, condition: bool, what: str, hint: str = "") -> bool:
        """Record that ``what`` holds (``condition``) or not, with a ``hint`` on how to fix it."""
        self.results.append((what, bool(condition), "" if condition else hint))
        return bool(condition)

    @contextmanager
    def attempt(self, what: str):
        """Record a failure (with the exception) if the body raises, instead of crashing the check."""
        try:
            yield
        except Exception as err:  # noqa: BLE001 - the reader's code may raise anything
            self.results.append((what, False, f"raised {type(err).__name__}: {err}"))

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(ok for _, ok, _ in self.results)

    @property
    def failures(self) -> list[str]:
        return [what for what, ok, _ in self.results if not ok]

    def failed_on(self, fragment: str) -> bool:
        """True if a failed property's description contains ``fragment`` (for tests of the checks)."""
        return any(fragment in what for what in self.failures)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        lines = [f"{self.title}:"]
        for what, ok, hint in self.results:
            mark = "passed" if ok else "FAILED"
            lines.append(f"  [{mark}] {what}" + (f" -- {hint}" if hint else ""))
        n_ok = sum(ok for _, ok, _ in self.results)
        lines.append(f"  {n_ok} of {len(self.results)} checks passed"
                     + (". Well done!" if self.passed else ". Read the hints above and try again."))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"CheckReport({self.title!r}, passed={self.passed}, failures={self.failures})"


@contextmanager
def check(title: str, *, verbose: bool = True):
    """Context manager for writing a check::

        with check("Exercise 4.1: squash") as report:
            report.expect(out.shape == x.shape, "keeps the shape", "return a tensor shaped like s")
        return report
    """
    report = CheckReport(title)
    yield report
    if verbose:
        print(report)

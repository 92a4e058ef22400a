"""The dependency lists agree, and they are bounded but not pinned."""

from __future__ import annotations

import re

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def pyproject_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return {r.replace(" ", "") for r in reqs}


def environment_requirements() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(
        d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d
    )
    return {r.replace(" ", "") for r in pip_section if not r.startswith("-e")}


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    assert environment_requirements() == pyproject_requirements()


def test_environment_installs_capslib_itself():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(
        d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d
    )
    assert "-e ." in pip_section


def test_every_dependency_is_bounded_but_not_pinned():
    for req in pyproject_requirements():
        assert "==" not in req, (
            f"{req} is pinned to one version: Colab must keep working next year"
        )
        assert re.search(r">=", req) and re.search(r"<", req), (
            f"{req} needs a lower and an upper bound"
        )


def test_required_dependencies_are_declared():
    names = {re.split(r"[<>=!~\[]", r)[0].lower() for r in pyproject_requirements()}
    for needed in (
        "torch",
        "torchvision",
        "matplotlib",
        "ipywidgets",
        "tqdm",
        "numpy",
        "jupyter-book",
        "sphinx-exercise",
        "pytest",
        "nbval",
        "hypothesis",
    ):
        assert needed in names, f"{needed} is missing from pyproject.toml"


def test_jupyter_book_stays_below_2():
    jb = next(r for r in pyproject_requirements() if r.startswith("jupyter-book"))
    assert "<2" in jb


def test_readme_layout_names_every_module_of_both_packages():
    """README's module table names every top-level module and subpackage of capslib and capsbook."""
    import pkgutil

    import capsbook
    import capslib

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [
        f"{package.__name__}.{info.name}"
        for package in (capslib, capsbook)
        for info in pkgutil.iter_modules(package.__path__)
        if f"`{package.__name__}.{info.name}`" not in readme
    ]
    assert not missing, f"README.md's layout table does not name: {', '.join(missing)}"


def test_no_module_is_named_after_a_standard_library_module():
    import pkgutil
    import sys

    import capsbook
    import capslib

    clashes = [
        f"{package.__name__}.{info.name}"
        for package in (capslib, capsbook)
        for info in pkgutil.walk_packages(package.__path__, "")
        if info.name.rsplit(".", 1)[-1] in sys.stdlib_module_names
    ]
    assert not clashes, clashes

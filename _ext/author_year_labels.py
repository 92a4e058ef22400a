"""Bibliography labels that match the chapters' author-year citations.

The chapters cite with ``bibtex_reference_style: author_year`` ("Sabour et al., 2017"), so the
bibliography's own labels say the same instead of a number: the style ``author_year`` is the
plain style (entries sorted by author, then year) with these labels. Use it as
``:style: author_year`` on the ``{bibliography}`` directive.
"""

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting.author_year_title import SortingStyle


def author_year(entry) -> str:
    """``Sabour et al., 2017``, ``Hinton and Sabour, 2018``, ``Guo, 2017a`` (year as in the .bib)."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    # LaTeX as the .bib writes it ("G\\'eron", "{PyTorch}") rendered as plain text ("Géron").
    names = [Text.from_latex(" ".join(p.last_names)).render_as("text") for p in people]
    if not names:
        authors = entry.fields.get("organization", entry.key)
    elif len(names) == 1:
        authors = names[0]
    elif len(names) == 2:
        authors = f"{names[0]} and {names[1]}"
    else:
        authors = f"{names[0]} et al."
    return f"{authors}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        for entry in sorted_entries:
            yield author_year(entry)


class CaseBlindSorting(SortingStyle):
    """By author, year, title, ignoring case and braces: "{yl-1993}" among the Ys, not after
    "Zhang" ("{" sorts after every letter)."""

    def sorting_key(self, entry):
        author, year, title = super().sorting_key(entry)
        return author.lower().replace("{", "").replace("}", ""), year, title.lower()


class AuthorYearStyle(PlainStyle):
    default_label_style = AuthorYearLabels
    default_sorting_style = CaseBlindSorting


def setup(app):
    register_plugin("pybtex.style.labels", "author_year", AuthorYearLabels)
    register_plugin("pybtex.style.formatting", "author_year", AuthorYearStyle)
    return {"parallel_read_safe": True}

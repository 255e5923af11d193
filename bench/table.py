"""The benchmark's rows, and their table as text, Markdown and JSON.

A :class:`Row` is one measured (or computed, or recorded) value and the limit it is measured
against; the writers only format what they are given.
"""

from dataclasses import asdict, dataclass
import json
import os
import textwrap

__all__ = ["SOURCES", "Row", "format_value", "group_rows", "text_table", "markdown_tables",
           "to_json", "write_json", "wrap_prose", "replace_section", "SectionError"]


#: Where a row's value comes from.
SOURCES = ("measured", "computed", "recorded")


@dataclass(frozen=True)
class Row:
    """One line of the table.

    Parameters
    ----------
    group : str
        The table it belongs to (``"accuracy"``, ``"cycles"``, ...).
    measure : str
        What was measured.
    value : int or float or None
        In ``unit``; None if it could not be had (``how`` says why).
    unit : str
    how : str
        The command that measured it, or how it was computed or where it was recorded.
    limit : int or float or None
        What ``value`` is measured against, in ``unit``; None where no limit applies.
    limit_name : str
        What the limit is.
    digits : int
        Decimals shown for a float ``value`` and ``limit``.
    source : str
        ``"measured"`` by this run, ``"computed"`` from measured numbers, or ``"recorded"``
        earlier and read back (not re-measured).
    """

    group: str
    measure: str
    value: object
    unit: str
    how: str
    limit: object = None
    limit_name: str = ""
    digits: int = 1
    source: str = "measured"

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {self.source!r}")

    @property
    def ratio(self):
        """``value / limit`` to 3 decimals, or None without both."""
        if self.value is None or not self.limit:
            return None
        return round(self.value / self.limit, 3)


def format_value(value, unit="", digits=1):
    """``5,408``, ``98.19 %``, ``41.25 MHz``; ``n/a`` for None."""
    if value is None:
        return "n/a"
    text = f"{value:,}" if isinstance(value, int) else f"{value:,.{digits}f}"
    return f"{text} {unit}".rstrip() if unit else text


def _cells(row):
    limit = ""
    if row.limit is not None:
        limit = f"{format_value(row.limit, row.unit, row.digits)} {row.limit_name}".strip()
    ratio = "" if row.ratio is None else f"{row.ratio:.2f}"
    return [row.measure, format_value(row.value, row.unit, row.digits), limit, ratio,
            row.source, row.how]


HEADER = ["measure", "value", "limit", "value / limit", "source", "how"]


def group_rows(rows):
    """``{group: [rows]}`` in the order the groups first appear."""
    groups = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    return groups


def text_table(rows, *, titles=None):
    """The rows as aligned plain text, a block per group (without the ``how`` column, which
    the Markdown and the JSON keep)."""
    lines = []
    for group, members in group_rows(rows).items():
        cells = [HEADER[:-1]] + [_cells(row)[:-1] for row in members]
        widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER) - 1)]
        lines.append((titles or {}).get(group, group))
        for c in cells:
            lines.append("  " + "  ".join(t.ljust(w) for t, w in zip(c, widths)).rstrip())
        lines.append("")
    return "\n".join(lines)


def markdown_tables(rows, *, titles=None, level="###"):
    """The rows as Markdown: a heading (``titles[group]``, else the group) and a table per
    group."""
    parts = []
    for group, members in group_rows(rows).items():
        table = [f"{level} {(titles or {}).get(group, group)}", "",
                 "| " + " | ".join(HEADER) + " |", "|" + " --- |" * len(HEADER)]
        for row in members:
            table.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(row)) + " |")
        parts.append("\n".join(table))
    return "\n\n".join(parts) + "\n"


def to_json(rows, **extra):
    """The rows (each with its ``ratio``) and ``extra`` fields as one JSON-ready dict."""
    return {**extra, "rows": [{**asdict(row), "ratio": row.ratio} for row in rows]}


def write_json(path, rows, **extra):
    """Write :func:`to_json` to ``path`` (through a temporary file, so a failed run leaves
    the old file whole)."""
    partial = path + ".tmp"
    with open(partial, "w") as f:
        json.dump(to_json(rows, **extra), f, indent=1)
        f.write("\n")
    os.replace(partial, path)


def wrap_prose(text, width=96):
    """Markdown ``text`` with its paragraphs and ``- `` items filled to ``width`` columns;
    headings and tables (blocks starting with ``#`` or ``|``) as they are."""
    def fill(line, first, rest):
        return textwrap.fill(line, width, initial_indent=first, subsequent_indent=rest,
                             break_long_words=False, break_on_hyphens=False)

    blocks = []
    for block in text.strip("\n").split("\n\n"):
        if block.startswith(("#", "|")):
            blocks.append(block)
        elif block.startswith("- "):
            blocks.append("\n".join(fill(item.replace("\n", " "), "- ", "  ")
                                    for item in ("\n" + block).split("\n- ")[1:]))
        else:
            blocks.append(fill(block.replace("\n", " "), "", ""))
    return "\n\n".join(blocks) + "\n"


class SectionError(ValueError):
    """A file lacks the markers of its generated section."""


def replace_section(text, body, *, name="bench"):
    """``text`` with what stands between the lines ``<!-- begin {name} ... -->`` and
    ``<!-- end {name} -->`` replaced by ``body``; the markers stay."""
    begin, end = f"<!-- begin {name}", f"<!-- end {name} -->"
    start = text.find(begin)
    stop = text.find(end, start)
    if start < 0 or stop < 0:
        raise SectionError(f"no generated section: the file needs a line starting with "
                           f"{begin!r} and, after it, a line {end!r}")
    start = text.index("\n", start) + 1
    return text[:start] + body.rstrip("\n") + "\n" + text[stop:]

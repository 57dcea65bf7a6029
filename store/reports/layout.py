"""A form as a grid of merged cells: one layout, rendered to XLSX and to HTML→PDF.

The seeds' forms are tables with merged cells. Describing each form once as a grid (row
by row, with column and row spans) keeps the printed PDF and the spreadsheet cell for
cell the same, so a field found at B3 in the workbook sits in the same place on paper.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

CHECKED = "☑"
UNCHECKED = "☐"


@dataclass
class Cell:
    text: str
    colspan: int = 1
    rowspan: int = 1
    kind: str = "value"  # label|value|section|title|plain|sign
    align: str | None = None  # left|center|right; default depends on kind
    row: int = -1
    col: int = -1


def L(text: str, colspan: int = 1, rowspan: int = 1) -> Cell:
    return Cell(text, colspan, rowspan, "label")


def V(text: object = "", colspan: int = 1, rowspan: int = 1, align: str | None = None
      ) -> Cell:
    return Cell("" if text is None else str(text), colspan, rowspan, "value", align)


def S(text: str, colspan: int) -> Cell:
    return Cell(text, colspan, 1, "section")


def T(text: str, colspan: int) -> Cell:
    """The form's title, centred across the table."""
    return Cell(text, colspan, 1, "title")


def P(text: str, colspan: int, align: str = "left") -> Cell:
    """Plain text outside the table's borders (the 填报单位 line, a footnote)."""
    return Cell(text, colspan, 1, "plain", align)


def checks(options: Sequence[str], chosen: str | Iterable[str] | None, sep: str = " ") -> str:
    """'☑正常 ☐一般 ☐较差': the seed's options, the chosen ones ticked."""
    picked = {chosen} if isinstance(chosen, str) else set(chosen or ())
    return sep.join(f"{CHECKED if o in picked else UNCHECKED}{o}" for o in options)


@dataclass
class Grid:
    """One printed page (or a run of pages) of a form."""

    name: str  # sheet name
    title: str
    ncols: int
    widths: list[float] = field(default_factory=list)  # in character widths
    cells: list[Cell] = field(default_factory=list)
    landscape: bool = False
    subtitle: str = ""  # e.g. 附件2
    heights: dict[int, float] = field(default_factory=dict)  # row → points, when fixed
    _occupied: set[tuple[int, int]] = field(default_factory=set, repr=False)
    rows: int = 0
    keep: list[tuple[int, int]] = field(default_factory=list)  # row ranges not to split

    def keep_together(self, first: int) -> None:
        """The rows from `first` to the last one placed print on one page (a quarter's
        block of the Anshan sheet)."""
        self.keep.append((first, self.rows))

    def row_groups(self) -> list[tuple[bool, list[list[Cell]]]]:
        """Rows in runs: (kept together?, rows), for one <tbody> each."""
        rows = self.by_row()
        out: list[tuple[bool, list[list[Cell]]]] = []
        i = 0
        for first, end in sorted(self.keep):
            if i < first:
                out.append((False, rows[i:first]))
            out.append((True, rows[first:end]))
            i = end
        if i < len(rows):
            out.append((False, rows[i:]))
        return out

    def row(self, *cells: Cell, height: float | None = None) -> int:
        """Place cells left to right, skipping columns held by rowspans from above."""
        r = self.rows
        col = 0
        for cell in cells:
            while (r, col) in self._occupied:
                col += 1
            if col + cell.colspan > self.ncols:
                raise ValueError(f"{self.name} row {r}: {cell.text!r} overflows {self.ncols} "
                                 "columns")
            cell.row, cell.col = r, col
            for dr in range(cell.rowspan):
                for dc in range(cell.colspan):
                    self._occupied.add((r + dr, col + dc))
            self.cells.append(cell)
            col += cell.colspan
        if height:
            self.heights[r] = height
        self.rows += 1
        return r

    def by_row(self) -> list[list[Cell]]:
        out: list[list[Cell]] = [[] for _ in range(self.rows)]
        for c in self.cells:
            out[c.row].append(c)
        for cells in out:
            cells.sort(key=lambda c: c.col)
        return out

    def find(self, text: str) -> Cell:
        for c in self.cells:
            if c.text == text:
                return c
        raise KeyError(text)

    def right_of(self, label: str) -> Cell:
        """The cell just right of the label (what tests and readers look for)."""
        lab = self.find(label)
        for c in self.cells:
            if c.row <= lab.row < c.row + c.rowspan and c.col == lab.col + lab.colspan:
                return c
        raise KeyError(f"nothing right of {label!r}")

    def col_widths(self) -> list[float]:
        return self.widths or [12.0] * self.ncols


# The words a place name of each level may already end in: 凤凰镇, 东关村, 柳江区 …
LEVEL_WORDS = {
    "county": ("县", "区", "市", "旗"),
    "township": ("镇", "乡", "街道", "苏木", "办事处"),
    "village": ("村", "居", "社区", "居委会", "村委会", "嘎查"),
}
BLANK = "　　"


def place(name: str | None, level: str, word: str) -> str:
    """A place name as the seed's blank prints it: 「____镇（街道）」 filled with 东关 gives
    东关镇（街道）, with 凤凰镇 gives 凤凰镇 — a name already ending in its level's word is
    printed as it is; no name leaves the blank."""
    name = (name or "").strip()
    if not name:
        return BLANK + word
    return name if name.endswith(LEVEL_WORDS[level]) else name + word


_CLAUSE_END = "。；;，,、 　"


def clauses(parts: Iterable[str | None], sep: str = "；") -> str:
    """Parts joined with 「；」, each without its own closing punctuation (「已维修。」 and
    「待复查」 give 「已维修；待复查」, not 「已维修。；待复查」); empty parts dropped."""
    return sep.join(t for t in ((p or "").rstrip(_CLAUSE_END) for p in parts) if t)

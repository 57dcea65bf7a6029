"""Grids to worksheets: merged cells, borders, wrapped text, print setup."""

from __future__ import annotations

import math
import re
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.pagebreak import Break
from openpyxl.worksheet.worksheet import Worksheet

from store.reports.layout import Grid
from store.workbook import print_setup, put

THIN = Side(style="thin", color="000000")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
FONT = "宋体"
_NUMBER = re.compile(r"[\d\-]{7,}[\dXx]?")
_SAFE = str.maketrans({c: "_" for c in "[]:*?/\\"})


def sheet_name(text: str, taken: set[str]) -> str:
    base = text.translate(_SAFE)[:28] or "Sheet"
    name, n = base, 2
    while name in taken:
        name, n = f"{base[:26]}-{n}", n + 1
    taken.add(name)
    return name


def _width(text: str) -> float:
    # CJK glyphs are about two Latin character widths in Excel's column unit.
    return sum(2.0 if ord(ch) > 0x2E80 else 1.1 for ch in text)


def write_grid(ws: Worksheet, grid: Grid) -> None:
    widths = grid.col_widths()
    for i, w in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(i)].width = w
    lines_per_row: dict[int, int] = {}
    for cell in grid.cells:
        r, c = cell.row + 1, cell.col + 1
        xc = put(ws, r, c, cell.text or None)
        bold = cell.kind in ("label", "section", "title")
        size = 16 if cell.kind == "title" else 10.5
        xc.font = Font(name=FONT, bold=bold, size=size)
        default = "center" if cell.kind in ("label", "section", "title") else "left"
        # An ID number or phone is shrunk to fit its cell rather than wrapped mid-number.
        whole = bool(cell.text) and _NUMBER.fullmatch(cell.text.strip()) is not None
        xc.alignment = Alignment(horizontal=cell.align or default, vertical="center",
                                 wrap_text=not whole, shrink_to_fit=whole)
        if cell.colspan > 1 or cell.rowspan > 1:
            ws.merge_cells(start_row=r, start_column=c, end_row=r + cell.rowspan - 1,
                           end_column=c + cell.colspan - 1)
        if cell.kind not in ("plain", "title"):
            for dr in range(cell.rowspan):
                for dc in range(cell.colspan):
                    ws.cell(row=r + dr, column=c + dc).border = BOX
        # Excel does not grow rows for wrapped text: estimate the lines it needs.
        span_width = sum(widths[cell.col:cell.col + cell.colspan]) or 10
        lines = sum(max(1, math.ceil(_width(part) / span_width))
                    for part in (cell.text or " ").split("\n"))
        per_row = math.ceil(lines / cell.rowspan)
        lines_per_row[cell.row] = max(lines_per_row.get(cell.row, 1), per_row)
    heights = [20.0] * grid.rows
    for row, lines in lines_per_row.items():
        fixed = grid.heights.get(row)
        heights[row] = fixed or max(20.0, 15.0 * lines + 4)
        ws.row_dimensions[row + 1].height = heights[row]
    print_setup(ws, landscape=grid.landscape)
    for after in page_breaks(grid, heights):
        ws.row_breaks.append(Break(id=after))


# Printable height of an A4 page in points (margins as Excel's default), fitted to width.
PAGE_POINTS = {False: 842 - 2 * 72 - 20, True: 595 - 2 * 72 - 20}


def page_breaks(grid: Grid, heights: list[float]) -> list[int]:
    """1-based rows after which a page must break so that no kept-together range (an
    Anshan quarter) is split across pages; the same rule the PDF follows."""
    page = PAGE_POINTS[grid.landscape]
    starts = {first: end for first, end in grid.keep}
    out: list[int] = []
    used = 0.0
    for row in range(grid.rows):
        end = starts.get(row)
        if end is not None and row > 0 and used + sum(heights[row:end]) > page:
            out.append(row)  # break after the previous row (1-based: row)
            used = 0.0
        used += heights[row]
        if used > page:  # an ordinary long run: Excel breaks it where it must
            used = heights[row]
    return out


def grids_to_xlsx(grids: list[Grid], path: Path) -> Path:
    wb = Workbook()
    taken: set[str] = set()
    assert wb.active is not None
    wb.remove(wb.active)
    for g in grids:
        write_grid(wb.create_sheet(sheet_name(g.name, taken)), g)
    wb.save(path)
    return path

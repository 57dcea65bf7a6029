"""Reading a roster sheet (CSV or XLSX) into header + numbered rows, defensively.

CSV arrives as UTF-8 (with or without BOM) or as GBK/GB18030 when saved from a Chinese
Excel; XLSX is read with openpyxl in read-only mode after a zip-bomb check, because the
file comes from outside (e-mailed by a township) and is opened on the server.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from store.roster.columns import header_score
from store.workbook import FORMULA_PREFIXES

Cell = object  # str | int | float | datetime | date | None, as the sheet holds it

# An XLSX is a zip of XML; real ones expand 5-20x. Far beyond that is a decompression
# bomb, which would exhaust memory inside openpyxl before any row is seen.
MAX_RATIO = 100
RATIO_FLOOR = 16 * 1024 * 1024  # small files may compress well; only big expansions count
MAX_UNCOMPRESSED = 1024 * 1024 * 1024
MAX_ENTRIES = 10_000
HEADER_SCAN_ROWS = 10  # a title row or two ("XX县特殊老年人名单", "填报单位") may precede


class RosterFileError(ValueError):
    """The file itself cannot be read (format, encoding, zip bomb); one line for the user."""


@dataclass
class Sheet:
    header_row: int  # 1-based, as Excel shows it
    headers: list[str | None]
    rows: Iterator[tuple[int, list[Cell]]]  # (1-based row number, cells), empty rows skipped
    fmt: str  # csv|xlsx


def open_sheet(path: Path) -> Sheet:
    suffix = path.suffix.lower()
    if not path.is_file():
        raise RosterFileError(f"找不到文件：{path}")
    if suffix in {".csv", ".txt"}:
        return _csv_sheet(path)
    if suffix in {".xlsx", ".xlsm"}:
        return _xlsx_sheet(path)
    if suffix in {".xls", ".et", ".wps"}:
        raise RosterFileError("不支持旧版 .xls 格式，请在 Excel/WPS 中另存为 .xlsx 或 CSV 后再导入")
    raise RosterFileError(f"不支持的文件类型 {suffix or '(无扩展名)'}：请使用 .csv 或 .xlsx")


def unquote_cell(value: Cell) -> Cell:
    """Undo our own formula-injection guard ('=…) so export → import round-trips."""
    if isinstance(value, str) and len(value) > 1 and value[0] == "'" and (
            value[1] in FORMULA_PREFIXES):
        return value[1:]
    return value


# --- CSV ---------------------------------------------------------------------------


def decode_bytes(data: bytes) -> str:
    """UTF-8 (BOM or not) first; Chinese Excel saves CSV as GBK, which GB18030 covers."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise RosterFileError("无法识别文件编码：请另存为 UTF-8 或 GBK 编码的 CSV") from None


def _csv_sheet(path: Path) -> Sheet:
    text = decode_bytes(path.read_bytes())
    first_line = text.split("\n", 1)[0]
    # WPS "文本文件" exports are tab-separated but often still named .csv.
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)

    def numbered() -> Iterator[tuple[int, list[Cell]]]:
        try:
            for n, row in enumerate(reader, start=1):
                yield n, _clean_csv_row(row)
        except csv.Error as exc:
            # e.g. a cell past the csv module's field limit (128 KB): an unclosed quote
            # swallows the rest of the file, or a pasted document
            raise RosterFileError(
                f"CSV 第{reader.line_num}行无法读取：单元格过长（超过 {csv.field_size_limit():,} "
                "个字符）、引号不配对或含有 NUL 字符，请检查该行") from exc

    return _with_header(numbered(), "csv")


def _clean_csv_row(row: list[str]) -> list[Cell]:
    out: list[Cell] = []
    for c in row:
        c = c.strip()
        out.append((unquote_cell(c) if c[0] == "'" else c) if c else None)
    return out


# --- XLSX --------------------------------------------------------------------------


def check_zip(path: Path) -> None:
    """Refuse archives that expand far beyond their size (zip bombs) or are not zips."""
    size = path.stat().st_size
    if not zipfile.is_zipfile(path):
        raise RosterFileError("文件不是有效的 .xlsx（可能已损坏，或是改了扩展名的其他格式）")
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise RosterFileError(f"拒绝导入：压缩包内文件过多（{len(infos)} 个），疑似 zip bomb")
        total = sum(i.file_size for i in infos)
    if total > MAX_UNCOMPRESSED or (total > RATIO_FLOOR and total > size * MAX_RATIO):
        raise RosterFileError(
            f"拒绝导入：文件解压后 {total // (1024 * 1024)} MB，是原文件的 "
            f"{total // max(size, 1)} 倍，疑似 zip bomb（压缩炸弹）"
        )


def _xlsx_sheet(path: Path) -> Sheet:
    check_zip(path)
    from openpyxl import load_workbook  # imported late: the CSV path does not need it

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken file
        raise RosterFileError(f"无法读取 .xlsx 文件：{type(exc).__name__}: {exc}") from None
    ws = wb.worksheets[0] if wb.worksheets else None
    if ws is None:
        wb.close()
        raise RosterFileError("工作簿中没有工作表")

    def numbered() -> Iterator[tuple[int, list[Cell]]]:
        try:
            for n, row in enumerate(ws.iter_rows(values_only=True), start=1):
                yield n, [_clean_xlsx_cell(c) for c in row]
        finally:
            wb.close()

    return _with_header(numbered(), "xlsx")


def _clean_xlsx_cell(value: Cell) -> Cell:
    if isinstance(value, str):
        value = value.strip()
        return unquote_cell(value) if value else None
    return value


# --- header ------------------------------------------------------------------------


def _with_header(numbered: Iterator[tuple[int, list[Cell]]], fmt: str) -> Sheet:
    """Find the header among the first rows; the rest are data rows, empties skipped."""
    seen: list[tuple[int, list[Cell]]] = []
    header: tuple[int, list[Cell]] | None = None
    for n, cells in numbered:
        if not any(c is not None for c in cells):
            continue
        seen.append((n, cells))
        if header_score(cells) >= 3:
            header = (n, cells)
            break
        if len(seen) >= HEADER_SCAN_ROWS:
            break
    if header is None:
        if not seen:
            raise RosterFileError("文件是空的：没有表头，也没有数据")
        # No recognisable header: take the first row, so missing columns get reported.
        header, leftovers = seen[0], seen[1:]
    else:
        leftovers = []
    header_row, header_cells = header
    headers = [None if c is None else str(c).strip() for c in header_cells]

    def rows() -> Iterator[tuple[int, list[Cell]]]:
        yield from leftovers
        for n, cells in numbered:
            if any(c is not None for c in cells):
                yield n, cells

    return Sheet(header_row=header_row, headers=headers, rows=rows(), fmt=fmt)

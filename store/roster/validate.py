"""Validating every roster row before anything is written.

Each cell is parsed into a typed value or a `RowError(row, column, reason)`; the row
number is the one Excel shows (header = row 1 unless a title row precedes it). Nothing
here touches the database, so a file is judged whole before the import begins.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from conversations.numbers import normalize, read_int
from store import idcard
from store.masking import mask_id, mask_phone
from store.roster.columns import (
    CATEGORIES_N,
    HUKOU_N,
    KEY_CATEGORIES,
    KEY_SELF_CARE,
    LIST_SEPARATORS,
    NO,
    SELF_CARE_N,
    STAFF_LEVELS_N,
    STAFF_TITLES,
    VISITOR_TITLES_N,
    YES,
    Column,
    HeaderMap,
    columns_for,
    map_headers,
    norm_choice,
)
from store.roster.read import Cell, Sheet

EMPTY_MARKERS = frozenset({"/", "-", "—", "－", "／", "--", "——", "\\"})
NONE_WORDS = frozenset({"无", "暂无", "没有"})  # "no phone" written out
# ASCII only: `\d` would take any script's digits; text is NFKC-normalised first, so
# full-width digits are read as the digits they look like
_MOBILE = re.compile(r"1[3-9]\d{9}", re.ASCII)
_LANDLINE = re.compile(r"0\d{2,3}-?\d{7,8}(-\d{1,6})?|[2-9]\d{6,7}", re.ASCII)
_DATE = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*(?:[-/.月]\s*(?:(\d{1,2})\s*[日号]?)?)?"
    r"(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?", re.ASCII
)
_CHILD_SEP = re.compile(r"[、,，;；/|]+")
_EXCEL_EPOCH = date(1899, 12, 30)  # serial 1 = 1900-01-01 given Excel's 1900 leap bug
MAX_MONEY = Decimal("99999999.99")  # Numeric(10, 2)


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    column: str
    reason: str
    value: str = ""  # shown to the user; sensitive values are masked

    def __str__(self) -> str:
        shown = f"（{self.value}）" if self.value else ""
        return f"第{self.row}行 [{self.column}]{shown}：{self.reason}"


@dataclass(frozen=True, slots=True)
class ChildRow:
    name: str
    phone: str
    relation: str | None
    planned_return: date | None
    primary: bool


@dataclass(slots=True)
class RosterRow:
    row: int
    name: str
    id_number: str
    gender: str
    birth_date: date
    county: str
    township: str
    village: str
    policy: str
    categories: list[str]
    visitor_name: str
    visitor_phone: str
    visitor_id: str | None = None
    visitor_title: str | None = None
    phone: str | None = None
    address: str | None = None
    hukou: str | None = None
    self_care: str | None = None
    health: str | None = None
    diseases: str | None = None
    lives_alone: bool | None = None
    empty_nest: bool | None = None
    left_behind: bool | None = None
    disabled: bool | None = None
    disability_cert: str | None = None
    fp_special: bool | None = None
    children_count: int | None = None
    income_source: str | None = None
    annual_income: Decimal | None = None
    monthly_income: Decimal | None = None
    benefits: str | None = None
    water_safe: bool | None = None
    fire_safe: bool | None = None
    housing_safe: bool | None = None
    emergency_name: str | None = None
    emergency_phone: str | None = None
    children: tuple[ChildRow, ...] = ()
    help_org: str | None = None
    help_measures: str | None = None
    notify_consent: bool = False
    notes: str | None = None

    @property
    def tier(self) -> str:
        if self.self_care in KEY_SELF_CARE or KEY_CATEGORIES.intersection(self.categories):
            return "key"
        return "ordinary"

    @property
    def visitor_key(self) -> str:
        """Visitors are one person per ID number if given, else per phone."""
        return f"id:{self.visitor_id}" if self.visitor_id else f"tel:{self.visitor_phone}"


@dataclass(slots=True)
class StaffRow:
    row: int
    name: str
    phone: str
    level: str  # village|township|county
    title: str
    county: str
    township: str | None
    village: str | None
    id_number: str | None


@dataclass
class Validated:
    kind: str  # roster|staff
    header_row: int
    rows_total: int = 0
    records: list[RosterRow | StaffRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fatal: bool = False  # a file-level problem (missing column): no row can be imported

    @property
    def bad_rows(self) -> set[int]:
        return {e.row for e in self.errors}


class _RowContext:
    """The cells of one row, read by column key, collecting errors as they are found."""

    __slots__ = ("errors", "row", "today", "values", "warnings")

    def __init__(self, row: int, cells: list[Cell], hm: HeaderMap, today: date) -> None:
        self.row = row
        self.today = today
        self.errors: list[RowError] = []
        self.warnings: list[str] = []
        # Picked once per row: the cells are read by key several times below.
        n = len(cells)
        self.values: dict[str, Cell] = {}
        for key, pos in hm.index.items():
            if pos < n:
                value = cells[pos]
                if value is not None and not (value.__class__ is str and value in EMPTY_MARKERS):
                    self.values[key] = value

    def raw(self, key: str) -> Cell:
        return self.values.get(key)

    def err(self, col: Column, reason: str, value: str = "") -> None:
        self.errors.append(RowError(self.row, col.header, reason, value))

    def text(self, col: Column, *, required: bool = False, max_len: int = 0) -> str | None:
        value = self.raw(col.key)
        if value is None:
            if required:
                self.err(col, "必填，不能为空")
            return None
        if value.__class__ is str:  # the common case, already stripped by the reader
            if max_len and len(value) > max_len:  # type: ignore[arg-type]
                self.err(col, f"过长（最多{max_len}个字）", value[:20])  # type: ignore[index]
                return None
            return value  # type: ignore[return-value]
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # Excel keeps 3 as 3.0
        if isinstance(value, datetime | date):
            value = value.isoformat()[:10]
        s = str(value).strip()
        if max_len and len(s) > max_len:
            self.err(col, f"过长（最多{max_len}个字）", s[:20])
            return None
        return s


def _columns(kind: str) -> dict[str, Column]:
    return {c.key: c for c in columns_for(kind)}


ROSTER = _columns("roster")
STAFF = _columns("staff")


# --- single cells ------------------------------------------------------------------


def parse_phone(value: Cell) -> tuple[str | None, str | None]:
    """(normalised phone, None) or (None, reason). Mobiles become 11 bare digits."""
    if value is None:
        return None, None
    if isinstance(value, float):
        if not value.is_integer():
            return None, "不是电话号码"
        value = int(value)
    if isinstance(value, int):
        s = str(value)
        if len(s) in (9, 10, 11) and not s.startswith("1"):
            return None, "座机号码开头的0可能被 Excel 去掉了，请将该列设为文本"
    else:
        s = normalize(str(value))
    if s in NONE_WORDS:
        return None, None
    compact = re.sub(r"[\s()（）]", "", s).replace("—", "-").replace("－", "-")
    digits = compact.replace("-", "")
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if _MOBILE.fullmatch(digits):
        return digits, None
    if _LANDLINE.fullmatch(compact):
        return compact, None
    if len(digits) == 11 and digits.startswith("1"):
        return None, "手机号第二位应为3-9"
    return None, "应为11位手机号（1开头）或带区号的座机号"


def parse_date(value: Cell) -> tuple[date | None, bool, str | None]:
    """(date, has_day, error). Accepts 1950-03, 1950/3/1, 1950年3月, 195003, Excel dates."""
    if value is None:
        return None, False, None
    # Excel turns a typed "1950-03" into the date 1950-03-01 shown as yyyy-mm: a date
    # cell on the 1st may mean just the month, so only the month is compared then.
    if isinstance(value, datetime):
        return value.date(), value.day != 1, None
    if isinstance(value, date):
        return value, value.day != 1, None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        if 1 <= value <= 80_000:  # an Excel serial day number in a General-format cell
            when = _EXCEL_EPOCH + timedelta(days=value)
            return when, when.day != 1, None
        value = str(value)
    s = normalize(str(value))
    if s in NONE_WORDS:
        return None, False, None
    year, month, day = None, None, None
    m = _DATE.fullmatch(s)
    if m:
        year, month = int(m.group(1)), int(m.group(2))
        day = int(m.group(3)) if m.group(3) else None
    elif re.fullmatch(r"\d{6}", s, re.ASCII):
        year, month = int(s[:4]), int(s[4:])
    elif re.fullmatch(r"\d{8}", s, re.ASCII):
        year, month, day = int(s[:4]), int(s[4:6]), int(s[6:])
    elif re.fullmatch(r"\d{4}\s*年?", s, re.ASCII):
        year, month = int(s[:4]), 1
    if year is None or month is None:
        return None, False, "日期格式应为 1950-03、1950/3/1 或 1950年3月"
    try:
        return date(year, month, day or 1), day is not None, None
    except ValueError:
        return None, False, "不是有效日期"


_YES_NO_FAST = {"是": True, "否": False}


def parse_yes_no(value: Cell) -> tuple[bool | None, str | None]:
    if value is None:
        return None, None
    fast = _YES_NO_FAST.get(value) if value.__class__ is str else None  # type: ignore[call-overload]
    if fast is not None:
        return fast, None
    if isinstance(value, bool):
        return value, None
    s = norm_choice(str(value))
    if isinstance(value, float) and value.is_integer():
        s = str(int(value))
    if s in YES:
        return True, None
    if s in NO:
        return False, None
    return None, "应填“是”或“否”"


def parse_money(value: Cell) -> tuple[Decimal | None, str | None]:
    if value is None:
        return None, None
    s = re.sub(r"[,，\s]|万元$|元$|万$", "", normalize(str(value)))
    if not s.isascii():  # Decimal() would read other scripts' digits
        return None, "应为数字"
    try:
        amount = Decimal(s)
    except InvalidOperation:
        return None, "应为数字"
    if not amount.is_finite() or amount < 0 or amount > MAX_MONEY:
        return None, "金额不合理"
    return amount.quantize(Decimal("0.01")), None


def _split(value: str | None, sep: re.Pattern[str] = LIST_SEPARATORS) -> list[str]:
    return [p for p in (x.strip() for x in sep.split(value or "")) if p]


# --- rows --------------------------------------------------------------------------


def _id_cell(ctx: _RowContext, col: Column, *, required: bool) -> idcard.IdInfo | None:
    value = ctx.raw(col.key)
    if value is None or (isinstance(value, str) and value in NONE_WORDS and not required):
        if required:
            ctx.err(col, "必填，不能为空")
        return None
    if isinstance(value, int | float):
        # Excel holds 15 significant digits: the last digits of the number are gone.
        ctx.err(col, "身份证号码被 Excel 存成了数字，末几位已丢失；请将该列设为“文本”后重新录入")
        return None
    try:
        return idcard.parse(str(value), today=ctx.today)
    except idcard.InvalidIdNumber as exc:
        ctx.err(col, str(exc), mask_id(str(value)) if len(str(value)) >= 12 else str(value))
        return None


def _phone_cell(ctx: _RowContext, col: Column, *, required: bool = False) -> str | None:
    value = ctx.raw(col.key)
    phone, reason = parse_phone(value)
    if reason:
        ctx.err(col, reason, mask_phone(str(value)))
    elif phone is None and required:
        ctx.err(col, "必填，不能为空")
    return phone


def _bool_cell(ctx: _RowContext, col: Column) -> bool | None:
    value, reason = parse_yes_no(ctx.raw(col.key))
    if reason:
        ctx.err(col, reason, str(ctx.raw(col.key))[:20])
    return value


def _choice_cell(ctx: _RowContext, col: Column, table: dict[str, str]) -> str | None:
    s = ctx.text(col)
    if s is None:
        return None
    found = table.get(s) or table.get(norm_choice(s))
    if found is None:
        allowed = "、".join(dict.fromkeys(table.values()))
        ctx.err(col, f"无法识别，可选：{allowed}", s[:20])
    return found


def _money_cell(ctx: _RowContext, col: Column) -> Decimal | None:
    amount, reason = parse_money(ctx.raw(col.key))
    if reason:
        ctx.err(col, reason, str(ctx.raw(col.key))[:20])
    return amount


def _date_cell(ctx: _RowContext, col: Column) -> tuple[date | None, bool]:
    when, has_day, reason = parse_date(ctx.raw(col.key))
    if reason:
        ctx.err(col, reason, str(ctx.raw(col.key))[:20])
    return when, has_day


def _categories(ctx: _RowContext) -> list[str]:
    col = ROSTER["categories"]
    raw = ctx.text(col)
    out: list[str] = []
    unknown: list[str] = []
    for part in _split(raw):
        cat = CATEGORIES_N.get(norm_choice(part))
        if cat is None:
            unknown.append(part)
        elif cat not in out:
            out.append(cat)
    if unknown:
        ctx.err(col, f"未知的对象类型：{'、'.join(unknown)}（可选：分散供养特困、低保、独居、"
                     "高龄、孤儿、事实无人抚养儿童、留守、空巢、失能、半失能、失智、失独、重残、"
                     "重病、计划生育特殊家庭、与重度残疾子女同住、子女委托、其他）")
    return out


def _children(ctx: _RowContext) -> tuple[ChildRow, ...]:
    c_name, c_phone = ROSTER["child_name"], ROSTER["child_phone"]
    c_rel, c_ret = ROSTER["child_relation"], ROSTER["child_return"]
    names = _split(ctx.text(c_name), _CHILD_SEP)
    raw_phone = ctx.raw(c_phone.key)
    phone_parts: list[Cell] = (
        list(_split(str(raw_phone), _CHILD_SEP)) if isinstance(raw_phone, str)
        else ([raw_phone] if raw_phone is not None else []))
    phones: list[str] = []
    for part in phone_parts:
        phone, reason = parse_phone(part)
        if reason:
            ctx.err(c_phone, reason, mask_phone(str(part)))
        elif phone:
            phones.append(phone)
    if not names and not phones:
        return ()
    if len(phones) != len(phone_parts):
        return ()  # a bad phone was reported above
    if not names:
        ctx.err(c_name, "填写了子女电话，但没有填写子女姓名")
        return ()
    if not phones:
        # No phone: nobody to notify and no key to find them again on re-import.
        ctx.warnings.append(f"第{ctx.row}行：子女未填电话，未建立家属联系")
        return ()
    if len(names) != len(phones):
        ctx.err(c_phone, f"子女姓名{len(names)}个、电话{len(phones)}个，数量应一致（用“、”分隔）")
        return ()
    relations = _split(ctx.text(c_rel), _CHILD_SEP)
    if len(relations) not in (0, 1, len(names)):
        ctx.err(c_rel, "关系的个数应为1个或与子女人数一致")
        return ()
    returns_raw = ctx.raw(c_ret.key)
    returns: list[date | None] = []
    parts = (_split(returns_raw, _CHILD_SEP) if isinstance(returns_raw, str)
             else [returns_raw] if returns_raw is not None else [])
    for part in parts:
        when, _day, reason = parse_date(part)
        if reason:
            ctx.err(c_ret, reason, str(part)[:20])
        returns.append(when)
    if len(returns) not in (0, 1, len(names)):
        ctx.err(c_ret, "返回时间的个数应为1个或与子女人数一致")
        return ()
    out = []
    for i, (name, phone) in enumerate(zip(names, phones, strict=True)):
        if len(name) > 100:
            ctx.err(c_name, "过长（最多100个字）", name[:20])
            return ()
        rel = relations[i] if len(relations) > 1 else (relations[0] if relations else "子女")
        if len(rel) > 16:
            ctx.err(c_rel, "过长（最多16个字）", rel[:20])
            return ()
        ret = returns[i] if len(returns) > 1 else (returns[0] if returns else None)
        out.append(ChildRow(name, phone, rel, ret, primary=(i == 0)))
    return tuple(out)


def roster_row(ctx: _RowContext, policy_default: str) -> RosterRow | None:
    c = ROSTER
    name = ctx.text(c["name"], required=True, max_len=100)
    info = _id_cell(ctx, c["id_number"], required=True)
    id_number = info.number if info else None
    gender = ctx.text(c["gender"])
    if gender is not None:
        gender = {"男性": "男", "女性": "女", "m": "男", "f": "女"}.get(gender.lower(), gender)
        if gender not in ("男", "女"):
            ctx.err(c["gender"], "应填“男”或“女”", gender[:10])
        elif info and gender != info.gender:
            ctx.err(c["gender"], f"与身份证号码不一致（号码显示为{info.gender}）", gender)
    birth, has_day = _date_cell(ctx, c["birth"])
    if birth and info:
        same = birth == info.birth_date if has_day else (
            (birth.year, birth.month) == (info.birth_date.year, info.birth_date.month))
        if not same:
            ctx.err(c["birth"], "与身份证号码中的出生日期不一致", birth.isoformat()[:7])
    county = ctx.text(c["county"], required=True, max_len=100)
    township = ctx.text(c["township"], required=True, max_len=100)
    village = ctx.text(c["village"], required=True, max_len=100)
    policy = ctx.text(c["policy"], max_len=40) or policy_default
    categories = _categories(ctx)
    visitor_name = ctx.text(c["visitor_name"], required=True, max_len=100)
    visitor_phone = _phone_cell(ctx, c["visitor_phone"], required=True)
    visitor_info = _id_cell(ctx, c["visitor_id"], required=False)
    visitor_id = visitor_info.number if visitor_info else None
    if visitor_id and visitor_id == id_number:
        ctx.err(c["visitor_id"], "访视责任人不能是对象本人")
    row = RosterRow(
        row=ctx.row, name=name or "", id_number=id_number or "",
        gender=info.gender if info else "", birth_date=info.birth_date if info else date.min,
        county=county or "", township=township or "", village=village or "",
        policy=policy, categories=categories,
        visitor_name=visitor_name or "", visitor_phone=visitor_phone or "",
        visitor_id=visitor_id,
        visitor_title=_choice_cell(ctx, c["visitor_title"], VISITOR_TITLES_N),
        phone=_phone_cell(ctx, c["phone"]),
        address=ctx.text(c["address"], max_len=500),
        hukou=_choice_cell(ctx, c["hukou"], HUKOU_N),
        self_care=_choice_cell(ctx, c["self_care"], SELF_CARE_N),
        health=ctx.text(c["health"], max_len=16),
        diseases=ctx.text(c["diseases"], max_len=500),
        lives_alone=_bool_cell(ctx, c["lives_alone"]),
        empty_nest=_bool_cell(ctx, c["empty_nest"]),
        left_behind=_bool_cell(ctx, c["left_behind"]),
        disabled=_bool_cell(ctx, c["disabled"]),
        disability_cert=ctx.text(c["disability_cert"], max_len=32),
        fp_special=_bool_cell(ctx, c["fp_special"]),
        children_count=_count_cell(ctx, c["children_count"]),
        income_source=ctx.text(c["income_source"], max_len=64),
        annual_income=_money_cell(ctx, c["annual_income"]),
        monthly_income=_money_cell(ctx, c["monthly_income"]),
        benefits=ctx.text(c["benefits"], max_len=500),
        water_safe=_bool_cell(ctx, c["water_safe"]),
        fire_safe=_bool_cell(ctx, c["fire_safe"]),
        housing_safe=_bool_cell(ctx, c["housing_safe"]),
        emergency_name=ctx.text(c["emergency_name"], max_len=100),
        emergency_phone=_phone_cell(ctx, c["emergency_phone"]),
        children=_children(ctx),
        help_org=ctx.text(c["help_org"], max_len=100),
        help_measures=ctx.text(c["help_measures"], max_len=1000),
        notify_consent=bool(_bool_cell(ctx, c["notify_consent"])),
        notes=ctx.text(c["notes"], max_len=2000),
    )
    return None if ctx.errors else row


def _count_cell(ctx: _RowContext, col: Column) -> int | None:
    s = ctx.text(col)
    if s is None:
        return None
    n = read_int(s.removesuffix("个").removesuffix("人"))
    if n is None or n > 30:
        ctx.err(col, "应为0-30的整数", s[:10])
        return None
    return n


def staff_row(ctx: _RowContext) -> StaffRow | None:
    c = STAFF
    name = ctx.text(c["name"], required=True, max_len=100)
    phone = _phone_cell(ctx, c["phone"], required=True)
    level = _choice_cell(ctx, c["level"], STAFF_LEVELS_N)
    if ctx.raw("level") is None:
        ctx.err(c["level"], "必填：村委会、乡镇 或 县")
    county = ctx.text(c["county"], required=True, max_len=100)
    township = ctx.text(c["township"], required=level in ("township", "village"), max_len=100)
    village = ctx.text(c["village"], required=level == "village", max_len=100)
    id_info = _id_cell(ctx, c["id_number"], required=False)
    id_number = id_info.number if id_info else None
    if ctx.errors or level is None:
        return None
    return StaffRow(
        row=ctx.row, name=name or "", phone=phone or "", level=level, title=STAFF_TITLES[level],
        county=county or "",
        township=township if level in ("township", "village") else None,
        village=village if level == "village" else None, id_number=id_number,
    )


# --- the whole file ----------------------------------------------------------------


def validate_sheet(sheet: Sheet, kind: str, *, policy_default: str, today: date,
                   on_row: Callable[[int], None] | None = None) -> Validated:
    """Every row is checked; errors are collected, never raised."""
    hm = map_headers(sheet.headers, kind)
    result = Validated(kind=kind, header_row=sheet.header_row)
    for unknown in hm.unknown:
        result.warnings.append(f"未知列“{unknown}”已忽略")
    for dup in hm.duplicated:
        result.warnings.append(f"重复的列“{dup}”已忽略（以第一次出现的为准）")
    if hm.missing:
        for col in hm.missing:
            result.errors.append(RowError(sheet.header_row, col.header, "缺少必需的列"))
        result.fatal = True
        return result
    seen_ids: dict[str, int] = {}
    duplicate_groups: dict[str, list[int]] = {}
    for n, cells in sheet.rows:
        result.rows_total += 1
        if on_row is not None:
            on_row(n)
        ctx = _RowContext(n, cells, hm, today)
        record = roster_row(ctx, policy_default) if kind == "roster" else staff_row(ctx)
        result.errors.extend(ctx.errors)
        result.warnings.extend(ctx.warnings)
        if record is None:
            continue
        if isinstance(record, RosterRow):
            first = seen_ids.setdefault(record.id_number, n)
            if first != n:
                duplicate_groups.setdefault(record.id_number, [first]).append(n)
        result.records.append(record)
    if duplicate_groups:
        _report_duplicates(result, duplicate_groups)
    if kind == "roster":
        _check_visitors(result)
    result.errors.sort(key=lambda e: e.row)
    return result


def _report_duplicates(result: Validated, groups: dict[str, list[int]]) -> None:
    # Both rows are flagged: which one is right is for the user to say, not us.
    col = ROSTER["id_number"].header
    drop: set[int] = set()
    for number, rows in groups.items():
        for r in rows:
            others = "、".join(str(x) for x in rows if x != r)
            result.errors.append(
                RowError(r, col, f"与第{others}行的身份证号码重复", mask_id(number)))
            drop.add(r)
    result.records = [r for r in result.records if r.row not in drop]


def _check_visitors(result: Validated) -> None:
    """One visitor key, one name: a different name under the same phone is worth a look."""
    phone_to_id: dict[str, str] = {}
    for rec in result.records:
        assert isinstance(rec, RosterRow)
        if rec.visitor_id:
            phone_to_id.setdefault(rec.visitor_phone, rec.visitor_id)
    names: dict[str, tuple[str, int]] = {}
    warned: set[str] = set()
    for rec in result.records:
        assert isinstance(rec, RosterRow)
        if not rec.visitor_id and rec.visitor_phone in phone_to_id:
            # The same phone given with an ID elsewhere in the file: the same person.
            rec.visitor_id = phone_to_id[rec.visitor_phone]
        key = rec.visitor_key
        first = names.setdefault(key, (rec.visitor_name, rec.row))
        if first[0] != rec.visitor_name and key not in warned:
            warned.add(key)
            result.warnings.append(
                f"访视责任人 {mask_phone(rec.visitor_phone)} 在第{first[1]}行名为“{first[0]}”，"
                f"在第{rec.row}行名为“{rec.visitor_name}”：按同一人导入，姓名取第{first[1]}行"
            )


def error_columns(errors: Iterable[RowError]) -> dict[str, int]:
    """How many errors per column: the summary line above a long error list."""
    out: dict[str, int] = {}
    for e in errors:
        out[e.column] = out.get(e.column, 0) + 1
    return out

"""The roster template: its columns, the header spellings accepted, and the value lists.

Columns follow liuzhou-2021 附件1 (名单), linzi-2022 附件1 (信息采集表/台账) and
guangxi-2023 附件2 一至四; one row is one subject with their responsible visitor and
(optionally) children. The staff sheet is a second, small template for officers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    header: str  # the canonical Chinese header written by export and template
    aliases: tuple[str, ...] = ()
    required: bool = False  # the column must be present (cells may still be optional)
    example: str = ""


def _c(key: str, header: str, *aliases: str, required: bool = False, example: str = "") -> Column:
    return Column(key, header, aliases, required, example)


ROSTER_COLUMNS: tuple[Column, ...] = (
    _c("name", "姓名", "对象姓名", "被探访人姓名", "老人姓名", "被探访人", required=True,
       example="王秀英"),
    _c("gender", "性别", example="女"),
    _c("birth", "出生年月", "出生日期", "出生年月日", example="1938-05"),
    _c("id_number", "身份证号码", "身份证号", "公民身份号码", "身份证", "证件号码",
       required=True, example="990101193805120021"),
    _c("county", "所属县(区)", "县(区)", "县(市、区)", "县区", "县", "区县", "所属县区",
       required=True, example="示范县"),
    _c("township", "所属乡镇(街道)", "乡镇(街道)", "乡镇", "镇(街道)", "街道", "所属乡镇",
       required=True, example="东关镇"),
    _c("village", "所属村(居)", "村(居)", "村(社区)", "村", "社区", "所属村", "所属村居",
       required=True, example="东关村"),
    _c("address", "住址", "家庭住址", "现住址", "居住地址", example="东关村三组12号"),
    _c("hukou", "户籍类别", "户籍性质", "户口性质", example="农村"),
    _c("categories", "对象类型", "访视对象类型", "探访对象类型", "人员类别", "对象类别",
       "访视对象类型（1至4）", "访视对象类型(1-4)", "身份类别",
       example="分散供养特困、独居、高龄"),
    _c("policy", "适用政策", "政策", example="linzi-2022"),
    _c("self_care", "自理能力", "生活自理能力", "失能情况", example="半失能"),
    _c("health", "健康状况", "身体状况", example="一般"),
    _c("diseases", "患病种类或残疾等级", "患病种类", "残疾等级", "疾病情况", example="高血压"),
    _c("lives_alone", "是否独居", example="是"),
    _c("empty_nest", "是否空巢", example="是"),
    _c("left_behind", "是否留守", example="否"),
    _c("disabled", "是否残疾", example="否"),
    _c("disability_cert", "残疾人证号", "残疾证号", example=""),
    _c("fp_special", "是否计划生育特殊家庭", "是否计划生育特殊家庭老年人", "计划生育特殊家庭",
       example="否"),
    _c("children_count", "子女个数", "子女数", example="1"),
    _c("income_source", "生活来源", "主要生活来源", example="子女赡养"),
    _c("annual_income", "年收入(万元)", "年收入", example="0.8"),
    _c("monthly_income", "家庭月收入(元)", "家庭每月收入(元)", "月收入(元)", "家庭月收入",
       example="600"),
    _c("benefits", "领取补贴情况", "补贴情况", "家庭每月领取养老保险、社会救助和社会福利补贴等情况",
       example="特困供养金、高龄津贴"),
    _c("water_safe", "饮水是否安全", example="是"),
    _c("fire_safe", "用火用电用气是否安全", "生活用火用电用气是否安全", example="是"),
    _c("housing_safe", "住房是否安全", example="是"),
    _c("phone", "联系电话", "电话", "本人电话", "手机", "手机号", "手机号码", "联系方式",
       example="13905330001"),
    _c("emergency_name", "紧急联系人", "紧急联系人姓名", example="王建国"),
    _c("emergency_phone", "紧急联系人电话", "紧急联系电话", "紧急联系人联系电话",
       example="13905330002"),
    _c("child_name", "子女/赡养人", "子女", "赡养人", "主要赡养人", "子女姓名", "赡养人姓名",
       example="王建国"),
    _c("child_phone", "子女/赡养人电话", "子女电话", "赡养人电话", "主要赡养人电话",
       "子女联系电话", example="13905330002"),
    _c("child_relation", "子女关系", "与本人关系", "关系", example="儿子"),
    _c("child_return", "子女计划返回时间", "计划返回时间", example="2025-02"),
    _c("visitor_name", "访视责任人", "探访人", "巡访人", "访视人", "探访责任人", "帮扶联系人",
       required=True, example="李春梅"),
    _c("visitor_phone", "访视责任人电话", "探访人电话", "巡访人电话", "访视人电话",
       "帮扶联系人电话", "探访责任人电话", required=True, example="13905339001"),
    _c("visitor_id", "访视责任人身份证号码", "访视责任人身份证号", "探访人身份证号码",
       example=""),
    _c("visitor_title", "访视人员类别", "探访人身份", "访视责任人身份", "帮扶联系人身份", "身份",
       example="村（居）干部"),
    _c("help_org", "帮扶单位", "帮扶单位(组织)", "帮扶人所在单位", example="东关村村委会"),
    _c("help_measures", "帮扶措施", example="每周电话问候"),
    # guangxi 附件2 一 是否居住在户籍所在地; linzi 附件1 共同居住人 / guangxi 附件2 二 家庭基本情况:
    # co-residents separated by 、, their relations and health in the same order.
    _c("lives_at_hukou", "是否居住在户籍所在地", "居住在户籍所在地", example="是"),
    _c("household_names", "共同居住人", "共同居住人姓名", "同住人", example="王秀兰"),
    _c("household_relations", "共同居住人与本人关系", "共同居住人关系", "同住人关系",
       example="配偶"),
    _c("household_health", "共同居住人身体状况", "共同居住人健康状况", "同住人身体状况",
       example="一般"),
    _c("notify_consent", "同意通知子女", "是否同意通知子女", example="是"),
    _c("notes", "备注", "其他需要说明的问题", example=""),
)

STAFF_COLUMNS: tuple[Column, ...] = (
    _c("name", "姓名", required=True, example="赵立新"),
    _c("phone", "联系电话", "电话", "手机", "手机号", "手机号码", required=True,
       example="13905338001"),
    _c("level", "角色", "层级", "所属层级", required=True, example="乡镇"),
    _c("county", "所属县(区)", "县(区)", "县(市、区)", "县区", "县", "区县", required=True,
       example="示范县"),
    _c("township", "所属乡镇(街道)", "乡镇(街道)", "乡镇", "镇(街道)", "街道", example="东关镇"),
    _c("village", "所属村(居)", "村(居)", "村(社区)", "村", "社区", example=""),
    _c("id_number", "身份证号码", "身份证号", "公民身份号码", example=""),
)

# Canonical categories (DOMAIN.md); the key of ALIASES is what people actually type.
KNOWN_CATEGORIES: tuple[str, ...] = (
    "分散供养特困", "低保", "独居", "高龄", "孤儿", "事实无人抚养儿童", "留守", "空巢",
    "失能", "半失能", "失智", "失独", "重残", "重病", "计划生育特殊家庭",
    "与重度残疾子女同住", "子女委托", "其他",
    "孤儿及事实无人抚养儿童",  # liuzhou 附件1 type 4: one or the other, the list does not say
)
CATEGORY_ALIASES: dict[str, str] = {
    "分散供养特困人员": "分散供养特困", "特困": "分散供养特困", "特困人员": "分散供养特困",
    "特困供养": "分散供养特困", "低保对象": "低保", "低保户": "低保", "独居老人": "独居",
    "高龄老人": "高龄", "留守老人": "留守", "留守老年人": "留守", "空巢老人": "空巢",
    "失能老人": "失能", "半失能老人": "半失能", "失智老人": "失智", "失独家庭": "失独",
    "重度残疾": "重残", "重病患者": "重病", "计划生育特殊家庭老年人": "计划生育特殊家庭",
    "经子女委托": "子女委托", "子女委托巡访": "子女委托",
    # the seeds' own words (linzi: 城乡留守老年人; anshan: 农村留守老年人)
    "城乡留守老年人": "留守", "城乡留守老人": "留守", "农村留守老年人": "留守",
    "农村留守老人": "留守", "重残老人": "重残", "分散特困": "分散供养特困",
}
# One word, several categories: liuzhou 附件1's 访视对象类型 codes 1–4 and compound words.
CATEGORY_EXPANSIONS: dict[str, tuple[str, ...]] = {
    "独居高龄老人": ("独居", "高龄"), "独居高龄": ("独居", "高龄"),
    "高龄独居": ("独居", "高龄"), "高龄独居老人": ("独居", "高龄"),
    # 「1.独居、重残、重病的分散供养特困人员；2.独居、重残、重病的低保对象；3.独居的高龄
    # 老人；4.孤儿及事实无人抚养儿童」
    "1": ("分散供养特困",), "2": ("低保",), "3": ("独居", "高龄"),
    "4": ("孤儿及事实无人抚养儿童",),
}
# Facts that make a subject "key" (重点) by default; a policy's own risk standard and an
# officer's tier_override take precedence downstream.
KEY_SELF_CARE = frozenset({"失能", "半失能"})
KEY_CATEGORIES = frozenset({"失能", "半失能", "失智", "重残", "重病"})

SELF_CARE: dict[str, str] = {
    "自理": "自理", "能自理": "自理", "完全自理": "自理", "生活自理": "自理",
    "半失能": "半失能", "部分自理": "半失能", "半自理": "半失能", "部分失能": "半失能",
    "失能": "失能", "不能自理": "失能", "完全失能": "失能", "生活不能自理": "失能",
}
HUKOU: dict[str, str] = {
    "农村": "农村", "农业": "农村", "农业户口": "农村", "城镇": "城镇", "非农业": "城镇",
    "非农业户口": "城镇", "城市": "城镇", "居民": "城镇",
}
VISITOR_TITLES: dict[str, str] = {
    "村（居）干部": "村（居）干部", "村干部": "村（居）干部", "居干部": "村（居）干部",
    "村居干部": "村（居）干部", "社区干部": "村（居）干部", "村委会": "村（居）干部",
    "居委会": "村（居）干部", "驻村干部": "驻村干部", "党员": "党员", "志愿者": "志愿者",
    "邻里": "邻里", "邻居": "邻里", "亲属": "亲属", "亲戚": "亲属", "家属": "亲属",
    "社工": "社工", "社会工作者": "社工", "专业社会工作者": "社工", "其他": "其他",
}
# 角色 in the staff sheet → the level of the jurisdiction the officer's scope is.
STAFF_LEVELS: dict[str, str] = {
    "村委会": "village", "居委会": "village", "村（居）委会": "village", "村": "village",
    "村（居）": "village", "社区": "village",
    "乡镇": "township", "街道": "township", "乡镇（街道）": "township", "镇": "township",
    "乡": "township", "街道办": "township", "乡镇民政": "township",
    "县": "county", "区": "county", "县（区）": "county", "县民政局": "county",
    "区民政局": "county", "县（区）民政局": "county", "民政局": "county",
}
STAFF_TITLES = {"village": "村（居）委会", "township": "乡镇（街道）", "county": "县（区）民政局"}

YES = frozenset({"是", "有", "y", "yes", "true", "1", "√", "✓", "✔"})
NO = frozenset({"否", "无", "没有", "n", "no", "false", "0", "×", "✗", "✘"})

LIST_SEPARATORS = re.compile(r"[、,，;；/|\s]+")
# Row numbers and the like: expected in hand-made sheets, not worth a warning.
IGNORED_HEADERS = frozenset({"序号", "编号", "序", "no", "no."})


def norm_header(text: str) -> str:
    """Compare headers loosely: full-width → half-width, no spaces, no '*' or '（必填）'."""
    s = unicodedata.normalize("NFKC", str(text))
    s = re.sub(r"[\s*＊]+", "", s)
    s = re.sub(r"\((必填|选填|可选|可不填)\)$", "", s)
    return s


def norm_choice(text: str) -> str:
    """Normalise a value for lookup in the value dictionaries above (parentheses, case)."""
    s = unicodedata.normalize("NFKC", text).strip().lower()
    return s.replace("(", "（").replace(")", "）")


def _lookup(columns: Sequence[Column]) -> dict[str, str]:
    out: dict[str, str] = {}
    for col in columns:
        for name in (col.header, *col.aliases):
            out.setdefault(norm_header(name), col.key)
    return out


_ROSTER_LOOKUP = _lookup(ROSTER_COLUMNS)
_STAFF_LOOKUP = _lookup(STAFF_COLUMNS)
# Value dictionaries are keyed through norm_choice so 村(居)干部 and 村（居）干部 agree.
SELF_CARE_N = {norm_choice(k): v for k, v in SELF_CARE.items()}
HUKOU_N = {norm_choice(k): v for k, v in HUKOU.items()}
VISITOR_TITLES_N = {norm_choice(k): v for k, v in VISITOR_TITLES.items()}
STAFF_LEVELS_N = {norm_choice(k): v for k, v in STAFF_LEVELS.items()}
CATEGORIES_N = {norm_choice(c): c for c in KNOWN_CATEGORIES} | {
    norm_choice(k): v for k, v in CATEGORY_ALIASES.items()}
CATEGORY_EXPANSIONS_N = {norm_choice(k): v for k, v in CATEGORY_EXPANSIONS.items()}


@dataclass
class HeaderMap:
    """Where each known column sits in the sheet, and what did not fit."""

    kind: str  # roster|staff
    index: dict[str, int] = field(default_factory=dict)  # key → 0-based column position
    unknown: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    missing: list[Column] = field(default_factory=list)


def columns_for(kind: str) -> tuple[Column, ...]:
    return STAFF_COLUMNS if kind == "staff" else ROSTER_COLUMNS


def detect_kind(headers: Sequence[object]) -> str:
    """A staff sheet has a 角色 column and no ID number or visitor column."""
    keys = {_ROSTER_LOOKUP.get(norm_header(str(h))) for h in headers if h is not None}
    normed = {norm_header(str(h)) for h in headers if h is not None}
    is_staff = any(_STAFF_LOOKUP.get(h) == "level" for h in normed) and "visitor_name" not in keys
    return "staff" if is_staff else "roster"


def header_score(cells: Sequence[object]) -> int:
    """How many cells of a row are known headers (to find the header below a title row)."""
    lookup = _ROSTER_LOOKUP | _STAFF_LOOKUP
    return sum(1 for c in cells if c is not None and norm_header(str(c)) in lookup)


def map_headers(headers: Sequence[object], kind: str) -> HeaderMap:
    lookup = _STAFF_LOOKUP if kind == "staff" else _ROSTER_LOOKUP
    result = HeaderMap(kind=kind)
    for pos, raw in enumerate(headers):
        if raw is None or not str(raw).strip():
            continue
        key = lookup.get(norm_header(str(raw)))
        if key is None and norm_header(str(raw)).lower() in IGNORED_HEADERS:
            continue
        if key is None:
            result.unknown.append(str(raw).strip())
        elif key in result.index:
            result.duplicated.append(str(raw).strip())
        else:
            result.index[key] = pos
    result.missing = [c for c in columns_for(kind) if c.required and c.key not in result.index]
    return result

"""Each seed's visit record form, filled from a filed visit, as a Grid (→ XLSX, PDF)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from itertools import pairwise
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.models import FamilyLink, HouseholdMember, Person, Subject, Visit
from store.reports.audit import audit
from store.reports.formspec import (
    AREAS,
    GUANGXI_ITEMS,
    LINZI_ITEMS,
    LINZI_NEEDS,
    LIUZHOU_AREAS,
    Q,
    placed,
)
from store.reports.layout import (
    CHECKED,
    UNCHECKED,
    Grid,
    L,
    P,
    S,
    T,
    V,
    checks,
    clauses,
    place,
)
from store.reports.records import (
    VisitRecord,
    load_visit_record,
    load_visit_records,
    question_labels,
)

SIGN_BLANK = "　" * 8  # a signature line stays empty: it is signed on paper


def ymd(d: date | None, blank: str = "    年   月   日") -> str:
    return f"{d.year}年{d.month}月{d.day}日" if d else blank


def ym(d: date | None) -> str:
    return f"{d.year}年{d.month}月" if d else ""


def yes_no(v: bool | None) -> str:
    return checks(["是", "否"], None if v is None else ("是" if v else "否"))


def q(rec: VisitRecord, role: str) -> str | None:
    return Q.get(rec.visit.policy, {}).get(role)


def handling_text(rec: VisitRecord) -> str:
    """处理方式结果: what the visitor wrote, then how each raised case was handled."""
    parts = [rec.answers.text(q(rec, "handling")), rec.handling()]
    return "\n".join(p for p in parts if p)


def recorded_lines(rec: VisitRecord, only: set[str] | None = None,
                   exclude: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """「label：answer」 for each answer the visit recorded, in the checklist's order."""
    known = question_labels(rec.visit.policy)
    labels = {qid: label for qid, _section, label in known}
    recorded = rec.answers.recorded()
    order = [qid for qid, _s, _l in known] + [x for x in recorded if x not in labels]
    have = set(recorded)
    return [f"{labels.get(qid, qid)}：{rec.answers.text(qid)}" for qid in order
            if qid in have and qid not in exclude and (only is None or qid in only)]


def others_text(rec: VisitRecord) -> str:
    """Every recorded answer the seed's form has no place for (seasonal checks, yes/no
    questions, emergencies, photos): printed on the form's 备注/其他 line."""
    return clauses(recorded_lines(rec, exclude=placed(rec.visit.policy)))


def area_text(rec: VisitRecord, items: list[tuple[str, str]]) -> str:
    return clauses(f"{label}：{rec.answers.text(qid)}" for label, qid in items
                    if rec.answers.text(qid))


# --- jingdezhen-2020 ------------------------------------------------------------------------


def jingdezhen(rec: VisitRecord) -> Grid:
    g = Grid("探视巡访记录表", "分散供养特困人员探视巡访情况记录表", 6, [12, 14, 10, 14, 10, 22])
    g.row(P("附件", 6))
    g.row(T("分散供养特困人员探视巡访情况记录表", 6))
    vis = rec.visitor
    g.row(L("探访人"), V(vis.name if vis else ""), L("联系电话"), V(vis.phone if vis else ""),
          L("职务"), V(rec.visitor_title or ""))
    g.row(L("探访对象", rowspan=2), L("姓名"), L("性别"), L("年龄"), L("地址", 2))
    g.row(V(rec.person.name), V(rec.person.gender or ""), V(rec.age()),
          V(rec.subject.address or "", 2))
    mode = {"in_person": "上门巡访", "phone": "电话询问", "video": "视频连线"}.get(
        rec.visit.mode or "")
    g.row(L("探访方式"), V(checks(["上门巡访", "电话询问", "视频连线"], mode), 5))
    g.row(L("探访日期"), V(ymd(rec.day), 5))
    areas = AREAS["jingdezhen-2020"]
    for i, (area, items) in enumerate(areas):
        first = [L("探访内容", rowspan=len(areas))] if i == 0 else []
        g.row(*first, L(area), V(area_text(rec, items), 4), height=42)
    needs = rec.answers.text(q(rec, "needs"))
    others = others_text(rec)
    text = "\n".join(x for x in (f"问题和需求：{needs}" if needs else "",
                                 f"其他记录：{others}" if others else "",
                                 f"解决处理方式结果：{handling_text(rec)}"
                                 if handling_text(rec) else "") if x)
    g.row(L("服务对象需解决的问题和需求及解决处理方式结果", 2), V(text, 4), height=60)
    g.row(P("备注：此表用于每次开展探访分散供养特困人员使用。探访一次，应记录一次，"
            "报村（居）委会、乡镇（街道）备案。", 6))
    return g


# --- liuzhou-2021 附件3 ---------------------------------------------------------------------


def liuzhou(rec: VisitRecord) -> Grid:
    title = f"柳州市{place(rec.county, 'county', '县（区、新区）')}特殊民政服务对象访视情况登记表"
    g = Grid("访视情况登记表", title, 6, [14, 14, 8, 10, 10, 20])
    g.row(P("附件3", 6))
    g.row(T(title, 6))
    g.row(L("访视对象姓名"), V(rec.person.name), L("性别"), V(rec.person.gender or ""),
          L("联系电话"), V(rec.person.phone or ""))
    g.row(L("家庭住址"), V(rec.subject.address or "", 5))
    for label, text in liuzhou_areas(rec):
        g.row(L(label), V(text, 5), height=48)
    vis = rec.visitor.name if rec.visitor else ""
    g.row(L("有关建议"), V(f"{rec.answers.text(q(rec, 'suggestions'))}\n"
                       f"访视人：{vis}　　{ymd(rec.day)}", 5), height=60)
    g.row(L("乡镇政府\n（街道办）\n意见"),
          V(f"\n访视人：{SIGN_BLANK}\n负责人：{SIGN_BLANK}　　年　月　日", 5), height=60)
    g.row(L("落实情况"), V(f"{handling_text(rec)}\n负责人：{SIGN_BLANK}\n"
                       f"经办人：{SIGN_BLANK}　　年　月　日", 5), height=60)
    return g


def liuzhou_areas(rec: VisitRecord) -> list[tuple[str, str]]:
    """附件3's five areas: each holds the answers of its checklist section (健康状况 较差,
    居住环境 好 …), then the visitor's free text; 有关建议 has its own row."""
    section = {qid: sec for qid, sec, _label in question_labels(rec.visit.policy)}
    suggestions = q(rec, "suggestions") or ""
    covered: set[str] = {suggestions}
    areas: list[tuple[str, list[str], str]] = []
    for label, qid in LIUZHOU_AREAS:
        ids = {x for x, sec in section.items() if sec == section.get(qid)} - {qid, suggestions}
        covered |= ids | {qid}
        areas.append((label, recorded_lines(rec, only=ids), rec.answers.text(qid)))
    # answers of sections a county added to the checklist go under 其他情况
    areas[-1][1].extend(recorded_lines(rec, exclude=covered))
    return [(label, "\n".join(x for x in (clauses(lines), free) if x))
            for label, lines, free in areas]


# --- linzi-2022 附件2 ----------------------------------------------------------------------


GOOD3 = ["好", "一般", "较差"]


def linzi_frequency(session: Session, rec: VisitRecord) -> int:
    """探视频次 每月 N 次, from the subject's rhythm: the spacing of its recent regular
    visits (a key subject visited every half month: 2), or the regular visits due in the
    visit's month when that is more. Holiday and campaign visits are not the rhythm."""
    d = rec.day or rec.visit.due_on
    first = d.replace(day=1)
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    regular = (Visit.subject_id == rec.subject.person_id, Visit.kind == "regular",
               Visit.status != "cancelled")
    in_month = session.scalar(select(func.count()).select_from(Visit).where(
        *regular, Visit.due_on >= first, Visit.due_on < nxt)) or 0
    dues = list(session.scalars(select(Visit.due_on).where(*regular, Visit.due_on < nxt)
                                .order_by(Visit.due_on.desc()).limit(7)))
    gaps = sorted((a - b).days for a, b in pairwise(dues) if a != b)
    per_month = round(30.4 / gaps[len(gaps) // 2]) if gaps else 1
    return max(1, in_month, per_month)


LINZI_CATEGORIES = ["低保对象", "分散特困", "城乡留守老人", "重残老人", "其他"]


def linzi_categories(cats: list[str]) -> set[str]:
    out = set()
    for c in cats:
        if "低保" in c:
            out.add("低保对象")
        elif "特困" in c:
            out.add("分散特困")
        elif "留守" in c:
            out.add("城乡留守老人")
        elif "残" in c:
            out.add("重残老人")
        else:
            out.add("其他")
    return out


def linzi(rec: VisitRecord, per_month: int = 1) -> Grid:
    title = "临淄区城乡留守老年人及分散供养特困老年人探视巡访记录表"
    g = Grid("探视巡访记录表", title, 8, [12, 12, 10, 12, 12, 10, 12, 12])
    g.row(P("附件 2：", 8))
    g.row(T(title, 8))
    vis = rec.visitor.name if rec.visitor else ""
    g.row(P(f"探视时间：{ymd(rec.day)}　{place(rec.township, 'township', '镇')}　"
            f"{place(rec.village, 'village', '村（居）')}　探视人：{vis}", 8))
    g.row(S("老年人基本情况", 8))
    g.row(L("姓名"), V(rec.person.name), L("性别"), V(rec.person.gender or ""), L("出生年月"),
          V(ym(rec.person.birth_date), 3))
    g.row(L("联系电话"), V(rec.person.phone or ""), L("具体住址（门牌号）", 2),
          V(rec.subject.address or "", 4))
    g.row(L("身份类别"), V(checks(LINZI_CATEGORIES, linzi_categories(rec.subject.categories)), 4),
          L("探视频次"), V(f"每月 {per_month} 次", 2))
    g.row(L("户籍类别"), V(checks(["农村", "城镇"], rec.subject.hukou_type), 2), L("居住地址"),
          V(rec.subject.address or "", 4))
    g.row(S("探视巡访情况", 8))
    for i in range(0, len(LINZI_ITEMS), 2):
        cells = []
        for label, qid in LINZI_ITEMS[i:i + 2]:
            cells += [L(label, 2), V(checks(GOOD3, rec.answers.chosen(qid) & set(GOOD3)), 2)]
        g.row(*cells)
    g.row(S("老年人需求情况", 8))
    for label, need, met in LINZI_NEEDS:
        g.row(L(label, 2), V(checks(["是", "否"], rec.answers.chosen(need)), 2), L("是否满足", 2),
              V(checks(["是", "否"], rec.answers.chosen(met)), 2))
    g.row(L("其它需求", 2), V(rec.answers.text(q(rec, "other_needs")), 6), height=36)
    g.row(S("子女返乡情况", 8))
    planned = rec.answers.text(q(rec, "children_return")) or "、".join(
        f"{p.name}（{fl.relation or '子女'}）{ym(fl.planned_return)}"
        for fl, p in rec.family if fl.planned_return)
    g.row(L("子女计划返回时间", 2), V(planned, 6))
    notes = "\n".join(x for x in (rec.answers.text(q(rec, "notes")), others_text(rec),
                                  handling_text(rec)) if x)
    g.row(L("其他需说明的问题", 2), V(notes, 6), height=48)
    return g


# --- anshan-2020: one sheet per subject per year, four quarterly blocks -------------------


ANSHAN_SCALE = ["正常", "一般", "较差"]
ANSHAN_TYPES = ["留守", "特困", "独居", "空巢", "其他"]
ANSHAN_VISITOR_TYPES = ["村（居）干部", "志愿者", "邻里", "亲属", "其他"]
QUARTERS = ["第一季度", "第二季度", "第三季度", "第四季度"]


def anshan_types(subject: Subject) -> set[str]:
    out = {t for t in ANSHAN_TYPES[:-1] if any(t in c for c in subject.categories)}
    if subject.lives_alone:
        out.add("独居")
    if subject.empty_nest:
        out.add("空巢")
    if subject.left_behind:
        out.add("留守")
    return out or ({"其他"} if subject.categories else set())


def anshan_year(subject: Subject, person: Person, year: int,
                quarters: dict[int, VisitRecord], where: tuple[str, str]) -> Grid:
    town, village = where
    title = (f"鞍山市{place(town, 'township', '乡镇（街道）')}"
             f"{place(village, 'village', '村（居）')}定期巡访情况表")
    g = Grid(f"{person.name}-{year}", title, 11, [12, 10] + [7.5] * 9)
    g.row(P("附件：", 11))
    g.row(T(title, 11))
    g.row(S("被巡访人基本情况", 11))
    g.row(L("姓名"), V(person.name, 2), L("性别"), V(checks(["男", "女"], person.gender), 2),
          L("年龄"), V(_age(person, date(year, 12, 31))),
          L("身份证号码"), V(person.id_number or "", 2))
    g.row(L("家庭住址"), V(subject.address or "", 5), L("类别"),
          V(checks(ANSHAN_TYPES, anshan_types(subject)), 4))
    # The visitor block shows who visited most recently this year.
    last = quarters[max(quarters)] if quarters else None
    vis = last.visitor if last else None
    g.row(S("巡访人基本情况", 11))
    g.row(L("姓名"), V(vis.name if vis else "", 2), L("性别"),
          V(checks(["男", "女"], vis.gender if vis else None), 2), L("年龄"),
          V(_age(vis, date(year, 12, 31)) if vis else ""), L("身份证号码"),
          V((vis.id_number or "") if vis else "", 2))
    vtype = (last.visitor_title or "") if last else ""
    picked = vtype if vtype in ANSHAN_VISITOR_TYPES else ("其他" if vtype else None)
    g.row(L("巡访人员类别", 2), V(checks(ANSHAN_VISITOR_TYPES, picked), 9))
    g.row(S("巡访时间、内容及方式", 11))
    areas = AREAS["anshan-2020"]
    for qn, qname in enumerate(QUARTERS, 1):
        rec = quarters.get(qn)
        d = rec.day if rec else None
        mode = None
        if rec is not None:
            mode = "实地" if rec.visit.mode == "in_person" else (
                "电话" if rec.visit.mode == "phone" else None)
        block = g.rows
        g.row(L(f"{year}年\n{qname}\n巡访情况", rowspan=2 + 2 * len(areas)), L("具体巡访时间"),
              V(f"{d.month}月{d.day}日" if d else "　月　日", 2), L("巡访人"),
              V(rec.visitor.name if rec and rec.visitor else "", 3), L("巡访方式"),
              V(checks(["实地", "电话"], mode), 2))
        for area, items in areas:
            g.row(L(area, rowspan=2), *(L(label, 3) for label, _ in items))
            opts = []
            for _label, qid in items:
                chosen = rec.answers.chosen(qid) if rec else set()
                opts += [V(f"{CHECKED if o in chosen else UNCHECKED}{o}", align="center")
                         for o in ANSHAN_SCALE]
            g.row(*opts)
        # The seed's sheet has no place for the seasonal checks, the problems found or
        # the alerts raised: they go on the quarter's own 其他情况 line.
        extra = clauses([others_text(rec), handling_text(rec)]) if rec else ""
        g.row(L("其他情况"), V(extra, 9), height=36 if extra else None)
        g.keep_together(block)
    return g


def _age(p: Person, on: date) -> str:
    b = p.birth_date
    return "" if b is None else str(on.year - b.year - ((on.month, on.day) < (b.month, b.day)))


def anshan_quarter_records(session: Session, subject_id: int, year: int
                           ) -> dict[int, VisitRecord]:
    """The visit shown for each quarter: the latest filed one, regular visits first."""
    visits = list(session.scalars(
        select(Visit).where(Visit.subject_id == subject_id, Visit.status == "filed",
                            Visit.visited_on >= date(year, 1, 1),
                            Visit.visited_on <= date(year, 12, 31))
        .order_by(Visit.visited_on, Visit.id)))
    chosen: dict[int, Visit] = {}
    for v in visits:
        assert v.visited_on is not None
        qn = (v.visited_on.month - 1) // 3 + 1
        cur = chosen.get(qn)
        if cur is None or (v.kind == "regular") >= (cur.kind == "regular"):
            chosen[qn] = v
    recs = load_visit_records(session, [chosen[k] for k in sorted(chosen)])
    return {(r.visit.visited_on.month - 1) // 3 + 1: r for r in recs if r.visit.visited_on}


# --- guangxi-2023 附件2 --------------------------------------------------------------------


HELP_ORGS = ["党政机关、群团组织", "乡镇（街道）、村（居）民委员会", "企业", "社会组织",
             "专业社会工作者", "志愿者", "其他"]


# What a 帮扶单位's name says about its kind, first match wins (guangxi 附件2 四).
HELP_ORG_WORDS = [
    ("乡镇（街道）、村（居）民委员会", ("村委", "居委", "村民委员会", "居民委员会", "社区",
                                    "镇人民政府", "乡人民政府", "街道办")),
    ("党政机关、群团组织", ("党委", "政府", "局", "机关", "团委", "妇联", "工会", "残联")),
    ("专业社会工作者", ("社工", "社会工作")),
    ("社会组织", ("协会", "基金会", "服务中心", "社会组织")),
    ("企业", ("公司", "企业", "厂")),
    ("志愿者", ("志愿",)),
]


def help_org_kind(kind: str | None, name: str | None) -> str | None:
    """The box to tick: the recorded kind, else the kind the unit's name shows."""
    if kind in HELP_ORGS:
        return kind
    if not name:
        return None
    for box, words in HELP_ORG_WORDS:
        if any(w in name for w in words):
            return box
    return "其他"


def _household_change(rec: VisitRecord) -> str:
    """家庭人口 □无变化 □增加 N 人 □减少 N 人, from the change and its count."""
    chosen = rec.answers.chosen(q(rec, "household_change"))
    up, down = rec.answers.value("household_increase"), rec.answers.value("household_decrease")
    return (f"{CHECKED if '无变化' in chosen else UNCHECKED}无变化　"
            f"{CHECKED if '增加' in chosen else UNCHECKED}增加 {up if up else ' '} 人　"
            f"{CHECKED if '减少' in chosen else UNCHECKED}减少 {down if down else ' '} 人")


def _illness(rec: VisitRecord, qid: str) -> str:
    chosen = rec.answers.chosen(qid)
    name = rec.answers.text(q(rec, "illness_name"))
    severe = "严重" in chosen
    return (f"{CHECKED if '无变化' in chosen else UNCHECKED}无变化　"
            f"{CHECKED if severe else UNCHECKED}严重　疾病名称：{name}　"
            f"{CHECKED if '转好' in chosen else UNCHECKED}转好")


def guangxi(rec: VisitRecord) -> Grid:
    title = "特殊困难老年人探访关爱服务记录表"
    g = Grid("探访关爱服务记录表", title, 8, [11, 10, 11, 10, 12, 10, 12, 12])
    s, p = rec.subject, rec.person
    g.row(P("附件2", 8))
    g.row(T(title, 8))
    g.row(P(ymd(rec.day), 8, align="right"))
    g.row(S("一、探访对象基本情况", 8))
    g.row(L("家庭住址"), V(f"{place(rec.county, 'county', '县（市、区）')}"
                       f"{place(rec.township, 'township', '乡镇（街道）')}"
                       f"{place(rec.village, 'village', '村（居）')}{s.address or ''}", 4),
          L("是否居住在户籍所在地", 2), V(yes_no(s.lives_at_hukou)))
    g.row(L("被探访人\n姓名"), V(p.name), L("联系电话"), V(p.phone or ""), L("紧急联系人"),
          V(s.emergency_contact_name or ""), L("联系电话"), V(s.emergency_contact_phone or ""))
    g.row(L("是否残疾"), V(yes_no(s.disabled)), L("残疾人证号"), V(s.disability_cert_no or ""),
          L("是否独居、空巢", 2), V(yes_no((s.lives_alone or s.empty_nest)
                                     if s.lives_alone is not None or s.empty_nest is not None
                                     else None), 2))
    g.row(L("是否留守"), V(yes_no(s.left_behind)), L("是否失能"),
          V(yes_no(None if s.self_care is None else s.self_care in ("失能", "半失能"))),
          L("是否计划生育特殊家庭老年人", 2), V(yes_no(s.family_planning_special), 2))
    g.row(S("二、家庭基本情况", 8))
    g.row(L("序号"), L("姓名"), L("性别"), L("公民身份号码", 2), L("与户主关系"), L("健康状况"),
          L("是否为低保对象\n/特困人员"))
    members = sorted(rec.household, key=lambda m: m.relation != "户主")
    for i in range(max(3, len(members))):
        m = members[i] if i < len(members) else None
        g.row(V("户主" if m and m.relation == "户主" else str(i + 1), align="center"),
              V(m.name if m else ""),
              V(m.gender if m else ""), V((m.id_number or "") if m else "", 2),
              V((m.relation or "") if m else ""), V((m.health or "") if m else ""),
              V((m.benefits or "") if m else ""))
    g.row(S("三、家庭生活条件", 8))
    for label, val in (("饮水是否安全", yes_no(s.water_safe)),
                       ("生活用火用电用气\n是否安全", yes_no(s.fire_power_gas_safe)),
                       ("住房是否安全", yes_no(s.housing_safe)),
                       ("家庭每月收入（元）", "" if s.monthly_income is None
                        else f"{s.monthly_income}"),
                       ("家庭每月领取养老保险、社会救助和社会福利补贴等情况",
                        s.monthly_benefits or "")):
        g.row(L(label, 2), V(val, 6))
    g.row(S("四、已享受帮扶情况", 8))
    org = help_org_kind(s.help_org_type, s.help_org_name)
    org_text = checks(HELP_ORGS, org) + (f"\n{s.help_org_name}" if s.help_org_name else "")
    g.row(L("帮扶单位（组织）"), V(org_text, 4), L("帮扶\n责任人"),
          V(s.helper_name or "", 2))
    g.row(V(f"帮扶措施：{s.help_measures or ''}", 8), height=36)
    g.row(S("五、探访情况", 8))
    seq = rec.visit.seq
    items = GUANGXI_ITEMS
    n_rows = 1 + 1 + len(items) + 3 + 3
    mode = {"phone": "电话问候", "in_person": "上门探访", "video": "互联网音（视）频探访"}.get(
        rec.visit.mode or "", "其他" if rec.visit.mode else None)
    g.row(L(f"第 {seq or '  '} 次开展探访\n{ymd(rec.day)}", rowspan=n_rows), L("探访方式", 2),
          V(checks(["电话问候", "上门探访", "互联网音（视）频探访", "其他"], mode), 5))
    g.row(L("家庭状况"), L("家庭人口"),
          V(_household_change(rec), 5))
    areas = [a for a, *_ in items]
    for i, (area, item, qid, options) in enumerate(items):
        first = [] if i and areas[i - 1] == area else [L(area, rowspan=areas.count(area))]
        text = _illness(rec, qid) if options is None else checks(
            options, rec.answers.chosen(qid) & set(options), "　")
        g.row(*first, L(item), V(text, 5))
    g.row(V(f"老年人服务需求：{rec.answers.text(q(rec, 'needs'))}", 7), height=36)
    sugg = "\n".join(x for x in (rec.answers.text(q(rec, "suggestions")), rec.handling()) if x)
    g.row(V(f"实施关爱服务建议：{sugg}", 7), height=36)
    g.row(V(f"其他探访记录：{others_text(rec)}", 7), height=36)
    g.row(L("探访人员（签字）", 2), V("", 5))
    g.row(L("被探访人（签字）", 2), V("", 5))
    g.row(L("信息\n录入人\n（签字）", 2), V("年　月　日", 5, align="right"))
    g.row(S("六、关爱服务情况", 8))
    care = rec.answers.text(q(rec, "care"))
    g.row(L(f"第 {seq or '  '} 次开展关爱\n{ymd(rec.day) if care else ymd(None)}", rowspan=2),
          V(f"关爱服务情况：{care}\n服务人员签字（盖章）：{SIGN_BLANK}　年　月　日", 7), height=48)
    g.row(V(f"老年人服务满意度评价：{rec.answers.text(q(rec, 'satisfaction'))}", 7))
    g.row(P("备注：此表一式两份，可复印，县级民政部门、乡镇（街道）各存档一份。", 8))
    return g


# --- any policy without a seed form: the answers in order ---------------------------------


def generic(rec: VisitRecord) -> Grid:
    title = "探访记录"
    g = Grid("探访记录", title, 4, [16, 30, 12, 20])
    g.row(T(title, 4))
    g.row(L("探访对象"), V(rec.person.name), L("探访日期"), V(ymd(rec.day)))
    g.row(L("住址"), V(rec.subject.address or ""), L("探访方式"), V(rec.mode_label))
    g.row(L("探访人"), V(rec.visitor.name if rec.visitor else "", 3))
    for qid, a in rec.answers.by_id.items():
        g.row(L(qid), V(rec.answers.text(qid) + (f"（{a.severity}）" if a.severity else ""), 3))
    g.row(L("处理方式结果"), V(handling_text(rec), 3))
    return g


VISIT_FORMS: dict[str, Callable[[VisitRecord], Grid]] = {
    "jingdezhen-2020": jingdezhen, "liuzhou-2021": liuzhou, "guangxi-2023": guangxi,
}


def visit_form(session: Session, rec: VisitRecord) -> Grid:
    policy = rec.visit.policy
    if policy == "linzi-2022":
        return linzi(rec, linzi_frequency(session, rec))
    if policy == "anshan-2020" and rec.day is not None:
        # anshan's form is the yearly sheet: the visit fills its quarter.
        quarters = anshan_quarter_records(session, rec.subject.person_id, rec.day.year)
        quarters[(rec.day.month - 1) // 3 + 1] = rec
        return anshan_year(rec.subject, rec.person, rec.day.year, quarters,
                           (rec.township, rec.village))
    return VISIT_FORMS.get(policy, generic)(rec)


def write_grids(grids: list[Grid], fmt: str, path: Path, title: str = "") -> Path:
    if fmt == "xlsx":
        from store.reports.render_xlsx import grids_to_xlsx

        return grids_to_xlsx(grids, path)
    if fmt == "pdf":
        from store.reports.render_pdf import grids_to_pdf

        return grids_to_pdf(grids, path, title)
    raise ValueError(f"unknown format {fmt!r}: xlsx or pdf")


def export_visit_form(session: Session, visit_id: int, fmt: str, path: Path,
                      actor_id: int | None = None) -> Path:
    rec = load_visit_record(session, visit_id)
    if rec.visit.status != "filed":
        raise LookupError(f"visit {visit_id} is {rec.visit.status}, not filed")
    write_grids([visit_form(session, rec)], fmt, path)
    audit(session, actor_id, "export_form", rec.subject.person_id, visit=visit_id, format=fmt)
    session.commit()
    return path


def household_facts(session: Session, ids: list[int]) -> tuple[dict[int, list[HouseholdMember]],
                                                       dict[int, tuple[FamilyLink, Person]]]:
    """Co-residents and the main supporter of a batch of subjects: two queries a batch."""
    members: dict[int, list[HouseholdMember]] = {}
    for m in session.scalars(select(HouseholdMember).where(
            HouseholdMember.subject_id.in_(ids), HouseholdMember.co_resident.is_(True))
            .order_by(HouseholdMember.id)):
        members.setdefault(m.subject_id, []).append(m)
    supporter: dict[int, tuple[FamilyLink, Person]] = {}
    for fl, p in session.execute(select(FamilyLink, Person).join(Person, Person.id ==
                                 FamilyLink.person_id).where(FamilyLink.subject_id.in_(ids))
                                 .order_by(FamilyLink.is_primary_supporter.desc(), FamilyLink.id)
                                 ):
        supporter.setdefault(fl.subject_id, (fl, p))
    return members, supporter


HELPER_IDENTITIES = ["党员", "村干部", "志愿者", "其他"]


def helper_identity(text: str | None) -> str | None:
    """The 附件1 box for a helper's 身份: the roster's 村（居）干部 is the seed's 村干部."""
    if not text:
        return None
    t = text.replace("（居）", "").replace("(居)", "").strip()
    if t in HELPER_IDENTITIES:
        return t
    return "村干部" if "干部" in t else ("党员" if "党员" in t else "其他")


def checks_or_other(options: list[str], value: str | None) -> str:
    """The seed's boxes ticked, and any recorded value the seed has no box for written
    beside them ticked (生活来源 政府补贴: ☐个人积蓄 ☐子女赡养 ☑政府补贴)."""
    parts = [p.strip() for p in re.split(r"[、，,；;/]", value or "") if p.strip()]
    extra = [p for p in parts if p not in options]
    return " ".join([checks(options, parts), *(f"{CHECKED}{p}" for p in extra)])


def linzi_info_form(session: Session, s: Subject, p: Person) -> Grid:
    from store.reports.records import place_names

    members, supporter = household_facts(session, [s.person_id])
    ms = members.get(s.person_id, [])
    fl, sp = supporter.get(s.person_id, (None, None))
    _c, town, _v = place_names(session, p.jurisdiction_id)
    title = "临淄区特殊关爱群体老年人信息采集表"
    g = Grid(f"信息采集表-{p.name}", title, 8, [12, 12, 12, 12, 12, 12, 12, 12])
    g.row(P("附件 1：", 8))
    g.row(T(title, 8))
    g.row(P(place(town, "township", "镇（街道）"), 8))
    g.row(L("姓名"), V(p.name), L("性别"), V(p.gender or ""), L("出生年月"),
          V(ym(p.birth_date), 3))
    g.row(L("身份证号码"), V(p.id_number or "", 2), L("家庭住址"), V(s.address or "", 4))
    g.row(L("健康状况"), V(checks(["良好", "一般", "差"], s.health_status), 2),
          L("患病种类或残疾等级", 2), V(s.diseases or "", 3))
    g.row(L("生活来源"), V(checks_or_other(["个人积蓄", "子女赡养"], s.income_source), 3),
          L("年收入（万元）", 2), V("" if s.annual_income_wan is None else s.annual_income_wan, 2))
    rels = set()
    for m in ms:
        rels.add(m.relation if m.relation in ("配偶", "残疾子女") else "其他")
    g.row(L("共同居住人\n姓名"), V("、".join(m.name for m in ms), 2), L("与本人关系"),
          V(checks(["配偶", "残疾子女", "其他"], rels if ms else None), 2),
          L("共同居住人\n身体状况"), V(checks(["健康", "一般", "较差"], {m.health for m in ms
                                                              if m.health}), 1))
    g.row(L("子女个数"), V("" if s.children_count is None else s.children_count),
          L("主要赡养人\n姓名"), V(sp.name if sp else ""), L("联系电话"),
          V((sp.phone or "") if sp else "", 3))
    g.row(L("外出时间"), V(str(fl.away_since or "") if fl else ""), L("外出地点"),
          V((fl.away_place or "") if fl else "", 2), L("计划返回时间"),
          V(ym(fl.planned_return) if fl else "", 2))
    g.row(L("帮扶联系人\n姓名"), V(s.helper_name or ""), L("联系电话"), V(s.helper_phone or ""),
          L("身份"), V(checks(HELPER_IDENTITIES, helper_identity(s.helper_identity)), 3))
    g.row(L("帮扶人所在单位", 2), V(s.help_org_name or "", 6))
    g.row(L("其他需要说明的问题", 2), V(s.notes or "", 6), height=48)
    return g


def subject_by_id_number(session: Session, id_number: str) -> tuple[Subject, Person]:
    row = session.execute(select(Subject, Person).join(Person, Person.id == Subject.person_id)
                          .where(Person.id_number == id_number.strip().upper())).first()
    if row is None:
        raise LookupError("no subject with that ID number")
    return row[0], row[1]


def export_subject_form(session: Session, id_number: str, year: int, fmt: str, path: Path,
                        actor_id: int | None = None) -> Path:
    """anshan: the yearly sheet. linzi: 附件1. Others: every filed visit's form that year."""
    from store.reports.records import place_names

    subject, person = subject_by_id_number(session, id_number)
    _county, town, village = place_names(session, person.jurisdiction_id)
    if subject.policy == "anshan-2020":
        grids = [anshan_year(subject, person, year,
                             anshan_quarter_records(session, subject.person_id, year),
                             (town, village))]
    elif subject.policy == "linzi-2022":
        grids = [linzi_info_form(session, subject, person)]
    else:
        visits = list(session.scalars(
            select(Visit).where(Visit.subject_id == subject.person_id, Visit.status == "filed",
                                Visit.visited_on >= date(year, 1, 1),
                                Visit.visited_on <= date(year, 12, 31))
            .order_by(Visit.visited_on, Visit.id)))
        grids = [visit_form(session, r) for r in load_visit_records(session, visits)]
        for i, gr in enumerate(grids, 1):
            gr.name = f"{i:02d}-{gr.name}"
        if not grids:
            raise LookupError(f"{person.name} has no filed visit in {year}")
    write_grids(grids, fmt, path, f"{person.name} {year}")
    audit(session, actor_id, "export_subject", subject.person_id, year=year, format=fmt)
    session.commit()
    return path

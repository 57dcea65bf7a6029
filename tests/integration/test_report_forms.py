"""Each seed's record form, filled from a filed visit, in XLSX (cells read back) and PDF
(text via pdftotext, pages via pdftoppm)."""

from __future__ import annotations

import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy.orm import Session, sessionmaker

from store.models import Alert, Answer, Case, Jurisdiction, Person, Role, Subject, Visit
from store.reports.forms import export_subject_form, export_visit_form
from store.reports.formspec import AREAS, GUANGXI_ITEMS, LINZI_ITEMS, LIUZHOU_AREAS
from tests.integration.test_report_monthly import need

ID = "210300194001012345"


def make_visit(s: Session, policy: str, answers: dict[str, object], mode: str = "in_person",
               day: date = date(2026, 11, 12),
               places: tuple[str, str, str] = ("样例", "东", "一")) -> int:
    """A filed visit; `places` names the county, township and village (with or without
    their level's word: 样例 or 柳江区)."""
    county = Jurisdiction(name=places[0], level="county")
    s.add(county)
    s.flush()
    town = Jurisdiction(name=places[1], level="township", parent_id=county.id)
    s.add(town)
    s.flush()
    village = Jurisdiction(name=places[2], level="village", parent_id=town.id)
    s.add(village)
    s.flush()
    visitor = Person(name="李探访", phone="13900000009", gender="女", jurisdiction_id=village.id)
    subj = Person(name="王秀英", gender="女", phone="13800000001", id_number=ID,
                  birth_date=date(1940, 1, 1), jurisdiction_id=village.id)
    s.add_all([visitor, subj])
    s.flush()
    s.add(Role(person_id=visitor.id, role="visitor", title="志愿者"))
    s.add(Subject(person_id=subj.id, policy=policy, categories=["独居", "分散供养特困"],
                  address="幸福路8号", hukou_type="农村", lives_alone=True, disabled=False))
    s.flush()
    v = Visit(subject_id=subj.id, visitor_id=visitor.id, policy=policy, due_on=day,
              visited_on=day, mode=mode, status="filed", seq=3,
              filed_at=datetime(2026, 11, 12, 8, tzinfo=UTC))
    s.add(v)
    s.flush()
    for qid, value in answers.items():
        s.add(Answer(visit_id=v.id, question_id=qid, value=value,
                     display=value if isinstance(value, str) else ""))
    case = Case(subject_id=subj.id, kind="gas", severity="high", status="resolved",
                resolution="已更换燃气软管")
    s.add(case)
    s.flush()
    s.add(Alert(case_id=case.id, visit_id=v.id, question_id="gas_safety", display="燃气软管老化",
                severity="high"))
    s.commit()
    return v.id


def cells(path: Path) -> dict[str, object]:
    ws = load_workbook(path).worksheets[0]
    return {c.coordinate: c.value for row in ws.iter_rows() for c in row if c.value is not None}


def right_of(path: Path, label: str) -> object:
    ws = load_workbook(path).worksheets[0]
    for row in ws.iter_rows():
        for c in row:
            if c.value == label:
                col = c.column + 1
                for rng in ws.merged_cells.ranges:  # skip the label's own merged span
                    if c.coordinate in rng:
                        col = rng.max_col + 1
                return ws.cell(row=c.row, column=col).value
    raise KeyError(label)


def pdf_text(path: Path, tmp: Path) -> str:
    need("pdftotext")
    need("pdftoppm")
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(path), str(tmp / "page")], check=True)
    assert list(tmp.glob("page*.png"))
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def both(sessions: sessionmaker[Session], vid: int, tmp: Path) -> tuple[Path, str]:
    with sessions() as s:
        x = export_visit_form(s, vid, "xlsx", tmp / "f.xlsx")
    with sessions() as s:
        p = export_visit_form(s, vid, "pdf", tmp / "f.pdf")
    return x, pdf_text(p, tmp)


def test_jingdezhen(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    ans = {qid: f"答{qid}" for _a, items in AREAS["jingdezhen-2020"] for _l, qid in items}
    ans["problems_handling"] = "需要助餐"
    with sessions() as s:
        vid = make_visit(s, "jingdezhen-2020", ans, mode="phone")
    x, text = both(sessions, vid, tmp_path)
    assert right_of(x, "探访人") == "李探访"
    assert right_of(x, "职务") == "志愿者"
    assert right_of(x, "探访方式") == "☐上门巡访 ☑电话询问 ☐视频连线"
    assert right_of(x, "探访日期") == "2026年11月12日"
    assert "表达能力：答expression" in str(right_of(x, "健康状况"))
    assert "燃气软管老化" in str(right_of(x, "服务对象需解决的问题和需求及解决处理方式结果"))
    c = cells(x)
    assert c["B5"] == "王秀英" and c["D5"] == "86"  # 姓名/年龄 under their headings
    for want in ("分散供养特困人员探视巡访情况记录表", "☑电话询问", "王秀英", "已更换燃气软管"):
        assert want in text


def test_liuzhou(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    ans: dict[str, object] = {qid: f"{label}良好" for label, qid in LIUZHOU_AREAS}
    ans["suggestions"] = "建议加装扶手"
    with sessions() as s:
        vid = make_visit(s, "liuzhou-2021", ans)
    x, text = both(sessions, vid, tmp_path)
    assert right_of(x, "访视对象姓名") == "王秀英"
    assert right_of(x, "联系电话") == "13800000001"
    assert right_of(x, "家庭住址") == "幸福路8号"
    assert right_of(x, "安全风险情况") == "安全风险情况良好"
    assert str(right_of(x, "有关建议")).startswith("建议加装扶手\n访视人：李探访")
    assert "已更换燃气软管" in str(right_of(x, "落实情况"))
    assert "柳州市样例县（区、新区）特殊民政服务对象访视情况登记表" in text
    assert "建议加装扶手" in text


def test_linzi(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    ans: dict[str, object] = {qid: "好" for _l, qid in LINZI_ITEMS}
    ans["gas_safety"] = "较差"
    ans["need_home_service"] = True
    ans["need_home_service_met"] = False
    with sessions() as s:
        vid = make_visit(s, "linzi-2022", ans)
    x, text = both(sessions, vid, tmp_path)
    assert right_of(x, "燃气安全") == "☐好 ☐一般 ☑较差"
    assert right_of(x, "房屋安全") == "☑好 ☐一般 ☐较差"
    assert right_of(x, "居家服务需求") == "☑是 ☐否"
    assert right_of(x, "户籍类别") == "☑农村 ☐城镇"
    assert right_of(x, "探视频次") == "每月 1 次"
    assert "☑分散特困" in str(right_of(x, "身份类别"))
    assert "探视人：李探访" in text and "☑较差" in text


def test_anshan_yearly_sheet(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    ans = {qid: "正常" for _a, items in AREAS["anshan-2020"] for _l, qid in items}
    ans["power_safety"] = "较差"
    with sessions() as s:
        vid = make_visit(s, "anshan-2020", ans)
    with sessions() as s:
        x = export_subject_form(s, ID, 2026, "xlsx", tmp_path / "y.xlsx")
    ws = load_workbook(x).worksheets[0]
    # The fourth quarter's block holds the November visit; the others stay blank.
    q4 = next(c for row in ws.iter_rows() for c in row if c.value == "2026年\n第四季度\n巡访情况")
    assert ws.cell(row=q4.row, column=3).value == "11月12日"
    assert ws.cell(row=q4.row, column=10).value == "☑实地 ☐电话"
    # 安全情况 → 用电安全 is the third item: its options are columns I..K of the next row.
    safety = next(c for row in ws.iter_rows(min_row=q4.row) for c in row if c.value == "安全情况")
    assert [ws.cell(row=safety.row + 1, column=k).value for k in (9, 10, 11)] == [
        "☐正常", "☐一般", "☑较差"]
    # the ID number is shrunk to fit its cell, never wrapped mid-number
    idc = next(c for row in ws.iter_rows() for c in row if c.value == ID)
    assert idc.alignment.shrink_to_fit and not idc.alignment.wrap_text
    q1 = next(c for row in ws.iter_rows() for c in row if c.value == "2026年\n第一季度\n巡访情况")
    assert ws.cell(row=q1.row, column=3).value == "　月　日"
    with sessions() as s:
        p = export_visit_form(s, vid, "pdf", tmp_path / "y.pdf")
    text = pdf_text(p, tmp_path)
    assert "鞍山市东乡镇（街道）一村（居）定期巡访情况表" in text and "☑较差" in text


def test_guangxi(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    ans: dict[str, object] = {qid: (opts[0] if opts else "严重") for _a, _i, qid, opts in
                              GUANGXI_ITEMS}
    ans["gas_safety"] = "不安全"
    ans["illness_name"] = "高血压"
    ans["household_change"] = "减少"
    ans["household_decrease"] = 1
    ans["service_needs"] = "助浴"
    with sessions() as s:
        vid = make_visit(s, "guangxi-2023", ans)
    x, text = both(sessions, vid, tmp_path)
    assert right_of(x, "燃气安全") == "☐安全　☐较安全　☑不安全"
    assert right_of(x, "表达能力") == "☑无变化　☐较好　☐较差"
    assert "☑严重　疾病名称：高血压" in str(right_of(x, "疾病状况"))
    assert "☑减少 1 人" in str(right_of(x, "家庭人口"))
    assert right_of(x, "探访方式") == "☐电话问候 ☑上门探访 ☐互联网音（视）频探访 ☐其他"
    assert right_of(x, "是否残疾") == "☐是 ☑否"
    assert right_of(x, "探访人员（签字）") is None  # signed on paper
    assert "第 3 次开展探访" in str(cells(x).values())
    assert "老年人服务需求：助浴" in text and "特殊困难老年人探访关爱服务记录表" in text


def test_every_form_cell_names_a_real_question() -> None:
    """A renamed checklist question would leave a form cell silently blank."""
    from conversations.checklist import load_checklist
    from store.reports.formspec import LINZI_NEEDS, Q

    wanted: dict[str, set[str]] = {policy: {qid for _a, items in areas for _l, qid in items}
                                   for policy, areas in AREAS.items()}
    wanted["linzi-2022"] = {qid for _l, qid in LINZI_ITEMS} | {
        x for _l, need, met in LINZI_NEEDS for x in (need, met)}
    wanted["guangxi-2023"] = {qid for _a, _i, qid, _o in GUANGXI_ITEMS} | {
        "household_increase", "household_decrease"}
    wanted["liuzhou-2021"] = {qid for _l, qid in LIUZHOU_AREAS}
    for policy, roles in Q.items():
        wanted.setdefault(policy, set()).update(roles.values())
    assert set(wanted) == {"jingdezhen-2020", "anshan-2020", "linzi-2022", "guangxi-2023",
                           "liuzhou-2021"}
    for policy, ids in wanted.items():
        missing = ids - set(load_checklist(policy).index)
        assert not missing, f"{policy}: form names unknown question(s) {sorted(missing)}"


def test_linzi_visit_frequency_follows_the_rhythm(sessions: sessionmaker[Session],
                                                  tmp_path: Path) -> None:
    """A key subject visited every half month: 探视频次 每月 2 次, though only one of
    those visits is due in the form's month so far."""
    with sessions() as s:
        vid = make_visit(s, "linzi-2022", {"gas_safety": "好"}, day=date(2026, 11, 12))
        v = s.get(Visit, vid)
        assert v is not None
        for due in (date(2026, 9, 28), date(2026, 10, 13), date(2026, 10, 28)):
            s.add(Visit(subject_id=v.subject_id, visitor_id=v.visitor_id, policy="linzi-2022",
                        due_on=due, visited_on=due, mode="in_person", status="filed"))
        # a holiday visit is no part of the rhythm
        s.add(Visit(subject_id=v.subject_id, policy="linzi-2022", kind="holiday",
                    due_on=date(2026, 11, 1), status="planned"))
        s.commit()
    with sessions() as s:
        x = export_visit_form(s, vid, "xlsx", tmp_path / "f.xlsx")
    assert right_of(x, "探视频次") == "每月 2 次"


def test_linzi_info_form_ticks_what_the_roster_says(sessions: sessionmaker[Session],
                                                    tmp_path: Path) -> None:
    """附件1: 政府补贴 is written ticked beside the seed's two boxes, 村（居）干部 ticks
    村干部, and a planned return month prints without an invented day."""
    from store.models import FamilyLink

    with sessions() as s:
        vid = make_visit(s, "linzi-2022", {})
        v = s.get(Visit, vid)
        assert v is not None
        subj = s.get(Subject, v.subject_id)
        assert subj is not None
        subj.income_source = "政府补贴"
        subj.helper_identity = "村（居）干部"
        child = Person(name="王建国", phone="13900000002")
        s.add(child)
        s.flush()
        s.add(FamilyLink(subject_id=subj.person_id, person_id=child.id, relation="儿子",
                         is_primary_supporter=True, planned_return=date(2026, 2, 1)))
        s.commit()
    with sessions() as s:
        x = export_subject_form(s, ID, 2026, "xlsx", tmp_path / "info.xlsx")
    assert right_of(x, "生活来源") == "☐个人积蓄 ☐子女赡养 ☑政府补贴"
    assert right_of(x, "身份") == "☐党员 ☑村干部 ☐志愿者 ☐其他"
    assert right_of(x, "计划返回时间") == "2026年2月"

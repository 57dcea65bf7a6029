"""Every answer a visit recorded is on that visit's printed form, for every policy.

One visit per policy answers every question of its checklist — seasonal and
mode-dependent ones included — and raises an alert; the record form is produced as XLSX
(cells read back) and PDF (text via pdftotext), and each answer's display value must be
there: ticked (☑较差), beside its label (室内温度（供暖季）：12℃), or as written; and no
place name is printed with its level word twice.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy.orm import Session, sessionmaker

from conversations.checklist import Question, load_checklist
from conversations.record import display
from store.models import Alert, Answer, Case, Visit
from store.reports.forms import export_visit_form
from tests.integration.test_report_forms import ID, make_visit, pdf_text

POLICIES = ["jingdezhen-2020", "liuzhou-2021", "linzi-2022", "anshan-2020", "guangxi-2023"]
ALERT = "室内温度过低：12℃"
# A place name printed with its level's word twice: 凤凰镇镇, 新开河镇乡镇（街道）, 东关村村（居）,
# 柳江区县（区、新区）. (乡镇 alone is the seeds' own word.)
# (东关村村民委员会 is a unit's real name, not a doubling.)
DOUBLED = re.compile(r"(?:镇|街道)(?:镇|乡)|乡乡|(?:村|居|社区)村(?!民)|(?:县|区|市|旗)县")


def value_for(i: int, q: Question) -> object:
    """A valid answer, varied across questions so the options differ."""
    if q.type == "single":
        return q.options[i % len(q.options)].value
    if q.type == "multi":
        return [next(o.value for o in q.options[1:] if not o.exclusive)]
    if q.type == "yesno":
        return i % 2 == 0
    if q.type == "number":
        if q.auto == "visit_no":
            return 3  # the visit's seq in make_visit
        lo, hi = q.min if q.min is not None else 0, q.max if q.max is not None else 500
        return max(lo, min(hi, 12 + i))
    if q.type == "date":
        return "2027-02-01"
    if q.type == "photo":
        return {"media_id": f"m{i}"}
    if q.type == "location":
        return {"lat": 36.8, "lon": 118.3}
    return f"记录{q.id}说明。"  # a sentence: its 。 must not double up with the form's ；


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def found(q: Question, shown: str, text: str) -> bool:
    label = re.sub(r"（[^）]*）$", "", q.label)
    if q.type in ("single", "multi", "yesno"):
        return any(want in text for want in (f"☑{shown}", f"{q.label}：{shown}",
                                               f"{label}：{shown}"))
    return flat(shown).rstrip("。") in text


@pytest.mark.parametrize("policy", POLICIES)
def test_every_recorded_answer_is_on_the_form(sessions: sessionmaker[Session], tmp_path: Path,
                                              policy: str) -> None:
    cl = load_checklist(policy)
    answers = {q.id: value_for(i, q) for i, q in enumerate(cl.questions)}
    with sessions() as s:
        # names that already end in their level's word (the seeds' blanks add it)
        vid = make_visit(s, policy, {}, places=("柳江区", "凤凰镇", "东关村"))
        for q in cl.questions:
            s.add(Answer(visit_id=vid, question_id=q.id, value=answers[q.id],
                         display=display(q, answers[q.id])))
        visit = s.get(Visit, vid)
        assert visit is not None
        case = Case(subject_id=visit.subject_id, kind="heating", severity="high", status="open")
        s.add(case)
        s.flush()
        s.add(Alert(case_id=case.id, visit_id=vid, question_id="x", display=ALERT,
                    severity="high"))
        s.commit()
    with sessions() as s:
        xlsx = export_visit_form(s, vid, "xlsx", tmp_path / "f.xlsx")
    with sessions() as s:
        pdf = export_visit_form(s, vid, "pdf", tmp_path / "f.pdf")
    wb = load_workbook(xlsx)
    xlsx_text = flat("\n".join(str(c.value) for ws in wb.worksheets for row in ws.iter_rows()
                               for c in row if c.value is not None))
    raw = pdf_text(pdf, tmp_path)
    texts = {"xlsx": xlsx_text, "pdf": flat(raw)}
    for number in (ID, "13800000001"):  # the subject's ID number and phone
        if number[:6] in raw:
            assert number in raw, f"{policy}: {number} broken across lines in the PDF"
    for where, text in texts.items():
        missing = [f"{q.id}={display(q, answers[q.id])}" for q in cl.questions
                   if not found(q, display(q, answers[q.id]), text)]
        assert not missing, f"{policy} {where}: answers not on the form: {missing}"
        assert flat(ALERT) in text, f"{policy} {where}: the visit's alert is not on the form"
        assert not DOUBLED.findall(text), f"{policy} {where}: doubled place word"
        assert not re.findall(r"[。；，][。；]", text), f"{policy} {where}: doubled punctuation"

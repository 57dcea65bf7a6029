"""A filed record in form order, for officers, reports and the demo."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conversations.checklist import Checklist, Question


def display(q: Question, value: Any) -> str:
    if value is None:
        return ""
    if q.type == "yesno":
        return "是" if value else "否"
    if q.type in ("single", "multi"):
        values = value if isinstance(value, list) else [value]
        labels = {o.value: o.label for o in q.options}
        return "、".join(labels.get(v, str(v)) for v in values)
    if q.type == "number":
        return f"{value}{q.unit}"
    if q.type == "photo":
        return "已上传照片"
    if q.type == "location" and isinstance(value, dict):
        return f"{value.get('lat')},{value.get('lon')}"
    if q.auto == "visit_no":
        return f"第 {value} 次"
    return str(value)


def summarize(checklist: Checklist, answers: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(section title, item label, display value) for every answered question, in order."""
    return [(q.section, q.label, display(q, answers[q.id]))
            for q in checklist.questions if q.id in answers]


def mode_label(checklist: Checklist, code: str | None) -> str:
    """The seed's own word for a visit mode (上门巡访, 实地, 电话问候 …)."""
    for m in checklist.modes:
        if m.code == code:
            return m.label
    return {"in_person": "上门", "phone": "电话", "video": "视频", "remote": "远程监测",
            "other": "其他"}.get(code or "", code or "")

"""The one table of Chinese words for case kinds, statuses and severities.

Chat, the CLI, reports and the dashboard all show these, never the internal codes
(`health`, `open`, `emergency` …). A kind missing here is shown as 其他情况, and a test
checks that every kind a checklist or device can raise has its word.
"""

from __future__ import annotations

SEVERITIES = ("watch", "high", "emergency")  # ascending
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
SEVERITY_LABELS = {"watch": "关注", "high": "高风险", "emergency": "紧急"}

STATUSES = ("open", "acked", "resolved")
STATUS_LABELS = {"open": "待处理", "acked": "处理中", "resolved": "已办结"}

KIND_LABELS = {
    # what the checklists raise (conversations/checklists/*.yaml)
    "abuse": "遭受侵害",
    "caregiver": "照料服务落实",
    "caregiver_abuse": "照料人不履行义务或虐待",
    "critical_illness": "危重病情",
    "electricity": "用电安全",
    "emergency": "紧急情况",
    "environment": "居住环境",
    "epidemic": "疫情防控",
    "family_contact": "子女联系",
    "fire": "消防安全",
    "flood": "防汛安全",
    "food": "食品安全",
    "gas": "燃气安全",
    "hardship": "生活困难",
    "health": "身体健康",
    "heating": "取暖安全",
    "housing": "住房安全",
    "hygiene": "卫生状况",
    "illness": "疾病情况",
    "institutional_care": "集中供养意愿",
    "mental": "精神状况",
    "mental_crisis": "突发精神疾病",
    "needs": "服务需求",
    "satisfaction": "服务满意度",
    "social": "邻里关系",
    "wandering": "外出流浪乞讨",
    "other": "其他情况",
    # what remote-monitoring devices raise (bot/web/signals.py)
    "emergency_call": "紧急呼叫",
    "no_activity": "用水用电异常",
    "device": "设备报警",
}

# Cases about the family itself: the child may be the caregiver in question, so these
# are never told to the family (liuzhou-2021: 「对照料义务人不履行义务或虐待服务对象的，
# 乡镇政府（街道办）应当报请相关部门依法追究其法律责任」).
NOT_FOR_FAMILY = frozenset({"abuse", "caregiver", "caregiver_abuse"})


def kind_label(kind: str | None) -> str:
    return KIND_LABELS.get(kind or "other", KIND_LABELS["other"])


def status_label(status: str | None) -> str:
    return STATUS_LABELS.get(status or "", "未知状态")


def severity_label(severity: str | None) -> str:
    return SEVERITY_LABELS.get(severity or "", "未分级")


def for_family(kind: str | None) -> bool:
    """May the subject's family hear of a case of this kind?"""
    return (kind or "other") not in NOT_FOR_FAMILY

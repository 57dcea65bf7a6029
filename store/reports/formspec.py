"""Which checklist question fills which cell of each seed's form.

The question ids are those of `conversations/checklists/<policy>.yaml`; a county that
renames a question edits this table, not the form builders. The integration tests check
that every id named here exists in the shipped checklists.
"""

from __future__ import annotations

# The five-area assessment shared (with local variations) by jingdezhen, linzi and anshan:
# (area label, [(item label, question id), ...]) in the seed's order.
AREAS: dict[str, list[tuple[str, list[tuple[str, str]]]]] = {
    "jingdezhen-2020": [
        ("健康状况", [("表达能力", "expression"), ("行动能力", "mobility"),
                      ("疾病状况", "illness")]),
        ("精神状态", [("情绪状态", "mood"), ("思维状态", "thinking"), ("压力状态", "stress")]),
        ("安全情况", [("房屋安全", "housing_safety"), ("燃气安全", "gas_safety"),
                      ("消防安全", "fire_safety"), ("电路安全", "flood_wiring"),
                      ("防汛安全", "flood_safety"), ("用电用火安全", "winter_power_fire")]),
        ("卫生状况", [("个人卫生", "personal_hygiene"), ("家庭卫生", "home_hygiene"),
                      ("周边卫生", "surroundings_hygiene")]),
        ("居住环境", [("室内环境", "indoor_env"), ("室外环境", "outdoor_env"),
                      ("邻里关系", "neighbours")]),
    ],
    "anshan-2020": [
        ("健康状况", [("表达能力", "expression"), ("行动能力", "mobility"),
                      ("疾病状况", "illness")]),
        ("精神状态", [("情绪状态", "mood"), ("思维状态", "thinking"), ("压力状态", "stress")]),
        # The seed's yearly sheet has three safety boxes; seasonal checks stay in the record.
        ("安全情况", [("用火安全", "fire_use_safety"), ("水暖安全", "water_heating_safety"),
                      ("用电安全", "power_safety")]),
        ("卫生环境", [("个人卫生", "personal_hygiene"), ("家庭卫生", "home_hygiene"),
                      ("邻里关系", "neighbours")]),
    ],
}

LINZI_ITEMS = [("生活自理", "self_care"), ("疾病情况", "illness"), ("行动情况", "mobility"),
               ("个人卫生", "personal_hygiene"), ("室内环境", "indoor_env"),
               ("室外环境", "outdoor_env"), ("房屋安全", "housing_safety"),
               ("燃气安全", "gas_safety"), ("消防（取暖）安全", "fire_safety"),
               ("疫情防控安全", "epidemic_safety")]
LINZI_NEEDS = [("居家服务需求", "need_home_service", "need_home_service_met"),
               ("精神陪伴需求", "need_companion", "need_companion_met"),
               ("助餐助医需求", "need_meal_medical", "need_meal_medical_met")]

# guangxi 附件2 五、探访情况: (area, item, question id, options)
GX_CHANGE = ["无变化", "较好", "较差"]
GX_SAFE = ["安全", "较安全", "不安全"]
GUANGXI_ITEMS = [
    ("健康状况", "表达能力", "expression", GX_CHANGE),
    ("健康状况", "行动能力", "mobility", GX_CHANGE),
    ("健康状况", "疾病状况", "illness", None),  # 无变化/严重(name)/转好, rendered specially
    ("精神状态", "情绪状态", "mood", GX_CHANGE),
    ("安全情况", "燃气安全", "gas_safety", GX_SAFE),
    ("安全情况", "水暖安全", "water_heating_safety", GX_SAFE),
    ("安全情况", "用电安全", "power_safety", GX_SAFE),
    ("安全情况", "消防安全", "fire_safety", GX_SAFE),
    ("卫生状况", "个人卫生", "personal_hygiene", GX_CHANGE),
    ("卫生状况", "家庭卫生", "home_hygiene", GX_CHANGE),
    ("居住环境", "室内环境", "indoor_env", GX_CHANGE),
]

# liuzhou 附件3's free-text areas.
LIUZHOU_AREAS = [("生活基本情况", "living_basic"), ("安全风险情况", "safety_risk"),
                 ("照料服务情况", "care_service"), ("关爱保护情况", "care_protection"),
                 ("其他情况", "other")]

# Single questions by role, per policy (None: the policy does not ask it).
Q: dict[str, dict[str, str]] = {
    "jingdezhen-2020": {"needs": "problems_handling"},
    "liuzhou-2021": {"suggestions": "suggestions"},
    "linzi-2022": {"other_needs": "other_needs", "children_return": "child_return_date",
                   "notes": "problems_handling"},
    # anshan's yearly sheet has no box for problems_handling: it goes on 其他情况
    "anshan-2020": {},
    "guangxi-2023": {"household_change": "household_change", "illness_name": "illness_name",
                     "needs": "service_needs", "suggestions": "care_suggestion",
                     "care": "care_given", "satisfaction": "satisfaction"},
}

# Free-text duration of a visit in minutes, where a checklist asks it (time bank).
DURATION_QUESTIONS = ("duration_minutes", "service_minutes")


def placed(policy: str) -> frozenset[str]:
    """The question ids a policy's record form shows in a place of the seed's own.

    Every other answer a visit recorded is printed in the form's 备注 / 其他 line, so
    nothing the visitor recorded is left off the form (issue: seasonal answers, yes/no
    answers and alerts were missing)."""
    ids: set[str] = set(Q.get(policy, {}).values())
    for _area, items in AREAS.get(policy, []):
        ids.update(qid for _label, qid in items)
    if policy == "linzi-2022":
        ids.update(qid for _label, qid in LINZI_ITEMS)
        ids.update(x for _label, need, met in LINZI_NEEDS for x in (need, met))
    elif policy == "guangxi-2023":
        ids.update(qid for _a, _i, qid, _o in GUANGXI_ITEMS)
        # the form prints the visit's own number, which visit_no is filled from
        ids.update({"household_increase", "household_decrease", "visit_no"})
    return frozenset(ids)

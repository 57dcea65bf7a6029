"""The five seed checklists load, and a broken checklist file is refused with a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conversations.checklist import (
    ChecklistError,
    available_checklists,
    load_checklist,
    parse_checklist,
)

SEEDS = ["anshan-2020", "guangxi-2023", "jingdezhen-2020", "linzi-2022", "liuzhou-2021"]


def test_all_five_seeds_ship() -> None:
    assert set(SEEDS) <= set(available_checklists())


@pytest.mark.parametrize("name", SEEDS)
def test_seed_loads_with_the_forms_items(name: str) -> None:
    cl = load_checklist(name)
    assert cl.title and cl.modes and cl.questions
    assert len(cl.index) == len(cl.questions)  # ids are unique
    labels = {q.label for q in cl.questions}
    # Every seed's form asks about the old person's health and home safety, and an
    # emergency (or safety-risk) question routes straight to staff.
    assert any("安全" in label for label in labels)
    emergency = cl.question("emergency")
    assert emergency.type == "multi"
    assert {o.risk for o in emergency.options if o.value != "无"} == {"emergency"}
    assert next(o for o in emergency.options if o.value == "无").exclusive


def test_seed_specific_items() -> None:
    # anshan's own mode words and its 14 °C heating threshold
    anshan = load_checklist("anshan-2020")
    assert [m.label for m in anshan.modes][:2] == ["实地", "电话"]
    assert anshan.question("indoor_temperature").risk_below == 14
    # jingdezhen asks 周边卫生; guangxi numbers its visits and asks household changes
    assert load_checklist("jingdezhen-2020").question("surroundings_hygiene")
    gx = load_checklist("guangxi-2023")
    assert gx.question("visit_no").auto == "visit_no"
    assert [o.value for o in gx.question("household_change").options] == ["无变化", "增加",
                                                                          "减少"]
    # linzi's needs: each need has a follow-up "met?" asked only if the need exists
    lz = load_checklist("linzi-2022")
    met = lz.question("need_home_service_met")
    assert met.when is not None
    assert met.when({"need_home_service": True}, {}, "in_person", frozenset())
    assert not met.when({"need_home_service": False}, {}, "in_person", frozenset())
    assert not met.when({}, {}, "in_person", frozenset())


def good() -> dict:
    return {"name": "t", "title": "测试表", "modes": [{"code": "in_person", "label": "上门"}],
            "sections": [{"title": "一", "questions": [
                {"id": "a", "label": "甲", "type": "yesno"},
                {"id": "b", "label": "乙", "type": "number", "min": 0, "max": 10,
                 "when": {"answer": "a", "eq": True}}]}]}


def test_a_valid_document_parses() -> None:
    cl = parse_checklist(good(), "t.yaml", "t")
    assert [q.id for q in cl.questions] == ["a", "b"]


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d.update(colour="red"), r"unknown key\(s\) colour"),
    (lambda d: d["sections"][0]["questions"][1].update(type="slider"), "slider"),
    (lambda d: d["sections"][0]["questions"][1].update(id="a"), "duplicate id"),
    (lambda d: d["sections"][0]["questions"][1].update(min=20), "min 20 is greater"),
    (lambda d: d["sections"][0]["questions"][1].update(when={"answer": "zzz", "eq": 1}),
     "not an earlier question"),
    (lambda d: d["sections"][0]["questions"][1].update(when={"mode": "phone"}),
     "does not offer"),
    (lambda d: d["sections"][0]["questions"][1].update(when={"season": "spring"}), "spring"),
    (lambda d: d["sections"][0]["questions"][0].update(options=["x"]), "takes no options"),
    (lambda d: d.update(modes=[{"code": "telepathy", "label": "x"}]), "needs a code"),
    (lambda d: d.update(name="other"), "differs from the file name"),
    (lambda d: d["sections"][0]["questions"][0].update(risk="catastrophic"), "catastrophic"),
])
def test_a_broken_document_names_file_and_question(mutate, message: str) -> None:
    doc = good()
    mutate(doc)
    with pytest.raises(ChecklistError, match=message) as err:
        parse_checklist(doc, "t.yaml", "t")
    assert "t.yaml" in str(err.value)


def test_override_dir_wins_and_bad_yaml_is_reported(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    doc = good()
    doc["name"] = "linzi-2022"
    doc["title"] = "本县修订版"
    (tmp_path / "linzi-2022.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True),
                                              encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("sections: [unclosed", encoding="utf-8")
    monkeypatch.setenv("VISITBOT_CHECKLISTS_DIR", str(tmp_path))
    assert load_checklist("linzi-2022").title == "本县修订版"
    with pytest.raises(ChecklistError, match=r"broken\.yaml: not valid YAML"):
        load_checklist("broken")
    with pytest.raises(ChecklistError, match="no checklist named 'nowhere'"):
        load_checklist("nowhere")


def test_an_edited_checklist_is_picked_up_without_a_restart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from conversations import checklist

    doc = good()
    doc["name"] = "linzi-2022"
    path = tmp_path / "linzi-2022.yaml"
    for title in ("第一版", "第二版"):
        doc["title"] = title
        path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
        st = path.stat()  # a new mtime even within the file system's clock resolution
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + (title == "第二版") * 10**9))
        monkeypatch.setenv("VISITBOT_CHECKLISTS_DIR", str(tmp_path))
        monkeypatch.setattr(checklist, "RECHECK_SECONDS", 0.0)
        assert load_checklist("linzi-2022").title == title

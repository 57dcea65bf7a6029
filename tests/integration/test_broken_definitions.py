"""A broken checklist or policy refuses the start, naming file and question; hostile YAML
(alias bombs, deep nesting, huge files) is refused at once; and a failure at run time
gives the visitor a 「系统正在维护」 reply and the operator an ERROR — never silence."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.settings import Settings, load_settings
from bot.wiring import StartRefused, build
from conversations import checklist as checklist_mod
from conversations.checklist import PACKAGED, ChecklistError, load_checklist
from conversations.yaml_bounds import MAX_BYTES
from scheduler.policy import PolicyError
from scheduler.policy_load import parse_policy
from tests.integration.chat_support import Chat, plan_visit
from tests.world import build_world

ALIAS_BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
sections: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def _deep_not(depth: int) -> str:
    cond = "{not: " * depth + "{answer: self_care, eq: good}" + "}" * depth
    return (PACKAGED / "linzi-2022.yaml").read_text(encoding="utf-8").replace(
        "{id: illness, label: 疾病情况, type: single, scale: good3, kind: health}",
        "{id: illness, label: 疾病情况, type: single, scale: good3, kind: health, "
        f"when: {cond}}}", 1)


def _broken_type() -> str:
    text = (PACKAGED / "linzi-2022.yaml").read_text(encoding="utf-8")
    return text.replace("{id: illness, label: 疾病情况, type: single",
                        "{id: illness, label: 疾病情况, type: singel", 1)


@pytest.fixture
def override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "checklists"
    folder.mkdir()
    monkeypatch.setenv("VISITBOT_CHECKLISTS_DIR", str(folder))
    checklist_mod._recent.clear()
    yield folder
    checklist_mod._recent.clear()


@pytest.mark.parametrize(("text", "says"), [
    (ALIAS_BOMB, "aliases expand"),
    (_deep_not(3000), "nested deeper"),
    ("x: [" + "1," * (MAX_BYTES // 2) + "1]", "larger than"),
])
def test_hostile_yaml_refused_with_a_clear_error(override: Path, text: str, says: str) -> None:
    (override / "linzi-2022.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ChecklistError, match=f"linzi-2022.yaml: refused: {says}"):
        load_checklist("linzi-2022")
    with pytest.raises(PolicyError, match=says):
        parse_policy(text, "linzi-2022.yaml")


def test_start_refused_naming_file_and_question(override: Path, db_url: str) -> None:
    (override / "linzi-2022.yaml").write_text(_broken_type(), encoding="utf-8")
    with pytest.raises(StartRefused) as refused:
        build(load_settings(database_url=db_url))
    assert "linzi-2022.yaml" in str(refused.value) and "illness" in str(refused.value)
    (override / "linzi-2022.yaml").write_text(_deep_not(20), encoding="utf-8")
    build(load_settings(database_url=db_url)).engine.dispose()  # a deep but sane file


def test_runtime_failure_gets_the_maintenance_reply(
        override: Path, sessions: sessionmaker[Session],
        caplog: pytest.LogCaptureFixture) -> None:
    from bot.chat.service import Core

    w = build_world(sessions)
    plan_visit(sessions, w)
    chat = Chat(sessions, Core(sessions, Settings(database_url="sqlite://")))
    # the file is broken after the start, as an operator's edit would
    (override / "linzi-2022.yaml").write_text(_broken_type(), encoding="utf-8")
    with caplog.at_level(logging.ERROR):
        replies = chat.say(w.visitor, "1")
    assert [r.text for r in replies] and "系统正在维护" in replies[0].text
    assert any(r.levelno == logging.ERROR and "maintenance" in r.getMessage()
               for r in caplog.records)
    help_ = chat.say(w.visitor, "帮助")  # what needs no checklist still works
    assert help_ and "系统正在维护" not in help_[0].text

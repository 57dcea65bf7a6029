"""`visitbot roster …` through click's CliRunner, on both stores."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bot.cli.roster import COMMANDS, roster
from store.db import make_engine, session_factory
from store.samples import SAMPLE_ROSTER, SAMPLE_STAFF
from tests.integration.test_roster_support import counts, sample_rows, write_csv


def _run(db_url: str, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(roster, list(args), obj={"database_url": db_url})


def _counts(db_url: str) -> dict[str, int]:
    engine = make_engine(db_url)
    try:
        return counts(session_factory(engine))
    finally:
        engine.dispose()


def test_group_is_exported() -> None:
    assert roster in COMMANDS and {"import", "export", "template"} <= set(roster.commands)


def test_import_prints_counts(db_url: str) -> None:
    result = _run(db_url, "import", str(SAMPLE_ROSTER))
    assert result.exit_code == 0, result.output
    assert "对象 新增 20" in result.output and "行/秒" in result.output
    assert "访视责任人 6 人" in result.output and "村（居）4 个" in result.output
    result = _run(db_url, "import", str(SAMPLE_STAFF))
    assert result.exit_code == 0 and "工作人员 6 人" in result.output
    result = _run(db_url, "import", str(SAMPLE_ROSTER), "--policy", "guangxi-2023")
    assert result.exit_code == 0 and "更新 20" in result.output


def test_import_errors_exit_1_and_change_nothing(db_url: str, tmp_path: Path) -> None:
    headers, rows = sample_rows()
    rows[0]["身份证号码"] = "11010519491231002"
    rows[3]["是否独居"] = "大概"
    path = write_csv(tmp_path / "bad.csv", headers, rows)
    errors = tmp_path / "errors.csv"
    result = _run(db_url, "import", str(path), "--errors", str(errors))
    assert result.exit_code == 1
    assert "身份证号码" in result.output and "应为18位" in result.output
    assert "是否独居" in result.output and "数据库未作任何改动" in result.output
    assert "Traceback" not in result.output
    assert "11010519491231002" not in result.output  # the bad ID is shown masked
    assert errors.read_text(encoding="utf-8-sig").count("\n") == 3
    assert _counts(db_url)["Person"] == 0
    result = _run(db_url, "import", str(path), "--skip-invalid")
    assert result.exit_code == 0 and "跳过有错误的 2 行" in result.output
    assert _counts(db_url)["Subject"] == 18


def test_unreadable_file_is_one_line(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "r.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    result = _run(db_url, "import", str(path))
    assert result.exit_code == 1 and "另存为 .xlsx" in result.output
    assert "Traceback" not in result.output


def test_export_and_template(db_url: str, tmp_path: Path) -> None:
    _run(db_url, "import", str(SAMPLE_ROSTER))
    out = tmp_path / "out.xlsx"
    result = _run(db_url, "export", str(out))
    assert result.exit_code == 0 and "已导出 20 位对象" in result.output and out.exists()
    masked = tmp_path / "masked.csv"
    assert _run(db_url, "export", str(masked), "--masked").exit_code == 0
    assert "****" in masked.read_text(encoding="utf-8-sig")
    bad = _run(db_url, "export", str(tmp_path / "out.txt"))
    assert bad.exit_code == 1 and ".csv 或 .xlsx" in bad.output
    template = tmp_path / "template.xlsx"
    result = CliRunner().invoke(roster, ["template", str(template)], obj={})
    assert result.exit_code == 0 and template.exists()
    result = _run(db_url, "import", str(template))
    assert result.exit_code == 0 and "对象 新增 1" in result.output


def test_unmigrated_database_gives_a_hint(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = _run(url, "import", str(SAMPLE_ROSTER))
    assert result.exit_code == 1 and "db upgrade" in result.output

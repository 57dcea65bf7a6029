import logging

import pytest

from store.masking import MaskingFilter, mask_id, mask_name, mask_phone, mask_text

ID = "11010519491231002X"


def test_mask_id() -> None:
    assert mask_id(ID) == "1101**********002X"
    assert len(mask_id(ID)) == 18
    assert mask_id("") == ""
    assert mask_id(None) == ""


def test_mask_phone() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("") == ""
    masked = mask_phone("0533-7123456")
    assert masked.endswith("3456") and "7123" not in masked


@pytest.mark.parametrize(("name", "masked"), [("张三丰", "张*丰"), ("张三", "张*"),
                                              ("欧阳娜娜", "欧**娜"), ("张", "张"), ("", "")])
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_mask_text_finds_ids_and_phones() -> None:
    text = f"老人{ID}，电话13812345678，子女 +86 139-1234-5678，lower 11010519491231002x。"
    out = mask_text(text)
    assert ID not in out and "13812345678" not in out and "1234-5678" not in out
    assert "1101**********002X" in out
    assert "138****5678" in out
    assert "1101**********002x" in out
    assert "老人" in out and "电话" in out


def test_mask_text_leaves_other_numbers() -> None:
    text = "第3次探访，2025年1月15日，订单号 123456789012345678901234，金额 1380"
    assert mask_text(text) == text


def test_mask_text_masks_disability_certificate() -> None:
    # 残疾人证号 = the ID number plus two digits: still an ID number to hide.
    assert ID not in mask_text(f"残疾证 {ID}41")


def test_logging_filter_masks_message_args_and_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.masking")
    log.addFilter(MaskingFilter())
    try:
        with caplog.at_level(logging.INFO, logger="test.masking"):
            log.info("subject %s phone %s", ID, 13812345678)
            log.info("dict %(p)s", {"p": "13912345678"})
            try:
                raise ValueError(f"bad id {ID}")
            except ValueError:
                log.exception("failed for 13712345678")
    finally:
        log.filters.clear()
    text = caplog.text
    assert ID not in text
    for phone in ("13812345678", "13912345678", "13712345678"):
        assert phone not in text
    assert "1101**********002X" in text and "138****5678" in text
    assert "ValueError" in text  # the traceback is kept, only masked


def test_filter_survives_broken_format() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s %s", ("13812345678",), None)
    assert MaskingFilter().filter(record)
    assert "13812345678" not in record.getMessage()


@pytest.mark.parametrize(("text", "hidden"), [
    ("电话 138.1234.5678", "1234"),
    ("电话 138 1234-5678", "1234"),
    ("电话 138-1234 5678", "1234"),
    ("电话 １３８１２３４５６７８", "１２３４"),
    ("电话 １３８－１２３４－５６７８", "１２３４"),
    ("座机 0533-7123456", "7123"),
    ("座机 (0533)7123456", "7123"),
    ("座机 010-12345678", "1234"),
    ("座机 05337123456", "7123"),
    ("ID110101199003071234", "19900307"),
    ("身份证110101199003071234号", "19900307"),
    ("110101 19900307 1234", "19900307"),
    ("110101-19900307-1234", "19900307"),
    ("１１０１０１１９９００３０７１２３４", "１９９００３０７"),
    ("idno=11010519491231002x;", "19491231"),
])
def test_mask_text_finds_every_format(text: str, hidden: str) -> None:
    out = mask_text(text)
    assert hidden not in out, out
    assert "*" in out


@pytest.mark.parametrize("text", [
    "第3次探访，2025年1月15日 09:30，共 12 户",
    "订单号 123456789012345678901234",
    "2025-01-15 至 2025-02-15",
    "金额 1380.50 元，编号 0533",
])
def test_mask_text_leaves_dates_amounts_and_long_numbers(text: str) -> None:
    assert mask_text(text) == text

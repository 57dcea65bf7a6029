from datetime import date

import pytest

from store import idcard
from store.idcard import InvalidIdNumber

# The GB 11643-1999 worked example and a few well-known test numbers.
VALID = ["11010519491231002X", "110101199003074477"]


@pytest.mark.parametrize("number", VALID)
def test_valid_numbers(number: str) -> None:
    assert idcard.is_valid(number)


def test_facts_from_number() -> None:
    info = idcard.parse("11010519491231002X")
    assert info.birth_date == date(1949, 12, 31)
    assert info.gender == "女"  # 17th digit 2: even
    assert info.region == "110105"
    assert idcard.gender("110101199003074477") == "男"
    assert idcard.birth_date("110101199003074477") == date(1990, 3, 7)


def test_lower_case_x_is_normalised() -> None:
    info = idcard.parse(" 11010519491231002x ")
    assert info.number == "11010519491231002X"


def test_bad_check_digit() -> None:
    with pytest.raises(InvalidIdNumber, match="校验位"):
        idcard.parse("110105194912310021")


@pytest.mark.parametrize("number", ["11010519491231002", "11010519491231002X1", ""])
def test_bad_length(number: str) -> None:
    with pytest.raises(InvalidIdNumber, match="18位"):
        idcard.parse(number)


@pytest.mark.parametrize("number", ["110105194902300020", "110105194913010020"])
def test_bad_birth_date(number: str) -> None:
    with pytest.raises(InvalidIdNumber, match="出生日期"):
        idcard.parse(number)


def test_future_birth_date_rejected_with_today() -> None:
    number = idcard.make("990101", date(2030, 1, 1), 1)
    assert idcard.is_valid(number)  # no "today" given: shape only
    with pytest.raises(InvalidIdNumber, match="不合理"):
        idcard.parse(number, today=date(2025, 1, 1))


def test_implausibly_old_birth_date() -> None:
    # 440524188001010014 has a correct check digit, but nobody alive was born in 1880.
    with pytest.raises(InvalidIdNumber, match="不合理"):
        idcard.parse("440524188001010014")


def test_letters_rejected() -> None:
    with pytest.raises(InvalidIdNumber, match="数字"):
        idcard.parse("1101051949123100AX")


def test_make_round_trips() -> None:
    for seq in range(0, 1000, 37):
        number = idcard.make("990101", date(1940, 2, 29), seq)
        info = idcard.parse(number)
        assert info.birth_date == date(1940, 2, 29)
        assert info.gender == ("男" if seq % 2 else "女")

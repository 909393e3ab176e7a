"""CVR numbers, municipality codes, SOR codes, role URIs and checklist evidence."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from indblik.organisations import municipalities
from indblik.organisations.validators import (
    CVR_WEIGHTS,
    validate_cvr,
    validate_evidence,
    validate_municipality_code,
    validate_role_uri,
    validate_sor_code,
)

# The CVR in full-width digits: str.isdigit() says yes, the CVR register would not.
FULLWIDTH_CVR = "".join(chr(0xFF10 + int(digit)) for digit in "64942212")


def codes(error: pytest.ExceptionInfo[ValidationError]) -> set[str | None]:
    return {item.code for item in error.value.error_list}


@pytest.mark.parametrize("cvr", ["64942212", "11259979", "29190909", "29190925", "30416031"])
def test_it_accepts_real_cvr_numbers(cvr: str) -> None:
    validate_cvr(cvr)


@pytest.mark.parametrize(
    "cvr", ["", "6494221", "649422120", "6494221a", "64 94 22 12", FULLWIDTH_CVR, " 64942212"]
)
def test_it_refuses_a_cvr_number_that_is_not_eight_digits(cvr: str) -> None:
    with pytest.raises(ValidationError) as error:
        validate_cvr(cvr)
    assert codes(error) == {"cvr_format"}


@pytest.mark.parametrize("cvr", ["64942213", "11259978", "30416034", "12345678"])
def test_it_refuses_a_cvr_number_whose_check_digit_is_wrong(cvr: str) -> None:
    with pytest.raises(ValidationError) as error:
        validate_cvr(cvr)
    assert codes(error) == {"cvr_checksum"}
    assert "check digit" in error.value.messages[0]


def test_it_refuses_a_cvr_number_starting_with_zero_even_if_the_sum_fits() -> None:
    with pytest.raises(ValidationError) as error:
        validate_cvr("00000000")
    assert codes(error) == {"cvr_format"}


@given(st.from_regex(r"[1-9][0-9]{7}", fullmatch=True))
def test_an_eight_digit_number_passes_exactly_when_its_weighted_sum_divides_by_11(
    cvr: str,
) -> None:
    expected = sum(int(d) * w for d, w in zip(cvr, CVR_WEIGHTS, strict=True)) % 11 == 0
    try:
        validate_cvr(cvr)
    except ValidationError:
        assert not expected
    else:
        assert expected


@given(st.text(max_size=12).filter(lambda s: not (len(s) == 8 and s.isascii() and s.isdigit())))
def test_anything_but_eight_ascii_digits_is_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        validate_cvr(text)


@given(st.from_regex(r"[1-9][0-9]{7}", fullmatch=True), st.integers(0, 7), st.integers(1, 9))
def test_changing_one_digit_of_a_valid_cvr_number_makes_it_invalid(
    cvr: str, position: int, delta: int
) -> None:
    # The weights are all below 11 and non-zero, so one changed digit always changes the sum
    # modulo 11: the check catches every single-digit typo.
    total = sum(int(d) * w for d, w in zip(cvr, CVR_WEIGHTS, strict=True))
    if total % 11 != 0:
        return
    digits = list(cvr)
    digits[position] = str((int(digits[position]) + delta) % 10)
    changed = "".join(digits)
    if changed[0] == "0":
        return
    with pytest.raises(ValidationError):
        validate_cvr(changed)


def test_there_are_98_municipalities_with_distinct_four_digit_codes() -> None:
    found = municipalities.MUNICIPALITIES
    assert len(found) == 98
    assert len({m.code for m in found}) == 98
    assert all(len(m.code) == 4 and m.code.isdigit() for m in found)
    assert len({m.region for m in found}) == 5


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("0101", "Københavns Kommune"),
        ("0147", "Frederiksberg Kommune"),
        ("0151", "Ballerup Kommune"),
        ("0400", "Bornholms Regionskommune"),
        ("0751", "Aarhus Kommune"),
        ("0860", "Hjørring Kommune"),
    ],
)
def test_it_knows_the_municipality_codes(code: str, name: str) -> None:
    validate_municipality_code(code)
    assert municipalities.BY_CODE[code].official_name == name


@pytest.mark.parametrize("code", ["", "101", "0102", "0411", "9999", "0101 ", "abcd"])
def test_it_refuses_a_code_that_is_no_municipality(code: str) -> None:
    with pytest.raises(ValidationError):
        validate_municipality_code(code)


def test_its_municipalities_match_the_synthetic_generators() -> None:
    # The access policy matches a citizen's address (written by the generator) to these codes.
    from indblik.records.synth import geography

    assert {m.code: m.official_name for m in geography.MUNICIPALITIES} == {
        m.code: m.official_name for m in municipalities.MUNICIPALITIES
    }


@pytest.mark.parametrize("sor", ["279311000016005", "1", "123456789012345678"])
def test_it_accepts_a_sor_code_of_digits(sor: str) -> None:
    validate_sor_code(sor)


@pytest.mark.parametrize(
    "sor", ["", "SOR123", "1234567890123456789", "27931100001600" + chr(0xFF15)]
)
def test_it_refuses_a_sor_code_that_is_not_digits(sor: str) -> None:
    with pytest.raises(ValidationError):
        validate_sor_code(sor)


@pytest.mark.parametrize(
    "uri",
    [
        "http://kombit.dk/roles/jobrole/indblik-opslag/1",
        "http://demo.indblik.dk/roles/jobrole/indblik-opslag/1",
        "https://kombit.dk/roles/usersystemrole/sp-link.laes/2",
    ],
)
def test_it_accepts_job_function_and_user_system_roles(uri: str) -> None:
    validate_role_uri(uri)


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "indblik-opslag",
        "http://kombit.dk/roles/jobrole/indblik-opslag",
        "http://kombit.dk/roles/other/indblik-opslag/1",
        "ftp://kombit.dk/roles/jobrole/x/1",
        "http://kombit.dk/roles/jobrole/x/1 ",
        "http://localhost/roles/jobrole/x/1",
    ],
)
def test_it_refuses_a_role_that_no_broker_would_send(uri: str) -> None:
    with pytest.raises(ValidationError):
        validate_role_uri(uri)


@pytest.mark.parametrize(
    "evidence",
    [
        "2025-03-14, journal no. 2025-0042",
        "Signed 14.3.2025, agreement ref. KK-SP-17",
        "Ref ABC-1 of 2024-12-31",
    ],
)
def test_agreement_evidence_with_a_date_and_a_reference_is_accepted(evidence: str) -> None:
    validate_evidence("agreement", evidence, today=date(2025, 6, 1))


@pytest.mark.parametrize(
    ("evidence", "code"),
    [
        ("", "agreement_date"),
        ("signed, ref. KK-SP-17", "agreement_date"),
        ("2025-02-30, ref. KK-SP-17", "agreement_date"),
        ("2026-01-01, ref. KK-SP-17", "agreement_date"),
        ("2025-03-14", "agreement_reference"),
        ("2025-03-14, #", "agreement_reference"),
    ],
)
def test_agreement_evidence_without_a_real_date_or_a_reference_is_refused(
    evidence: str, code: str
) -> None:
    with pytest.raises(ValidationError) as error:
        validate_evidence("agreement", evidence, today=date(2025, 6, 1))
    assert codes(error) == {code}


def test_other_steps_need_no_evidence_but_it_is_bounded() -> None:
    validate_evidence("network", "")
    with pytest.raises(ValidationError):
        validate_evidence("network", "x" * 1001)

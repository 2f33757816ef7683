"""The condition language: parsing, evaluation against observations, and syntax errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from nephos.errors import ConditionSyntaxError, ConfigError
from nephos.model import DnsInfo, TlsInfo
from nephos.probes.base import Observation
from nephos.probes.conditions import Placeholder, evaluate_all, parse_condition

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

BODY = {
    "status": "UP",
    "version": "2.4.1",
    "count": 7,
    "ratio": 0.5,
    "text_number": "12",
    "decimal_text": "2.10",
    "healthy": True,
    "nothing": None,
    "items": [{"name": "a", "tags": ["x", "y"]}, {"name": "b", "tags": []}],
    "matrix": [[1, 2], [3, 4]],
    "a.b": "dotted",
    "nested": {"deep": {"value": "found"}},
}


def observation(**changes: object) -> Observation:
    """A healthy HTTPS observation; tests override the fields they are about."""
    values: dict[str, object] = {
        "response_time": timedelta(milliseconds=250),
        "connected": True,
        "status": 200,
        "body": json.dumps(BODY).encode(),
        "ip": "10.1.2.3",
        "timings": {"dns": 4.0, "connect": 12.5, "tls": 30.0, "ttfb": 180.0, "total": 250.0},
        "tls": TlsInfo(
            leaf_not_after=NOW + timedelta(days=30),
            leaf_not_before=NOW - timedelta(days=60),
            version="TLSv1.3",
        ),
        "dns": DnsInfo(record_type="A", rcode="NOERROR", answers=("192.0.2.1", "192.0.2.2")),
    }
    values.update(changes)
    return Observation(**values)  # type: ignore[arg-type]


def check(text: str, obs: Observation | None = None) -> tuple[bool, str]:
    result = parse_condition(text).evaluate(obs or observation(), now=NOW)
    return result.passed, result.description


# --------------------------------------------------------------------------- placeholders


@pytest.mark.parametrize(
    ("text", "passed"),
    [
        ("[STATUS] == 200", True),
        ("[STATUS] != 200", False),
        ("[STATUS] < 300", True),
        ("[STATUS] >= 500", False),
        ("[STATUS] == any(200, 204)", True),
        ("[STATUS] == any(301, 302)", False),
        ("[STATUS] == pat(2*)", True),
        ("[STATUS] =~ ^2\\d\\d$", True),
        ("[status] == 200", True),
        ("[RESPONSE_TIME] < 300", True),
        ("[RESPONSE_TIME] < 200", False),
        ("[RESPONSE_TIME] <= 250", True),
        ("[RESPONSE_TIME] < 1s", True),
        ("[RESPONSE_TIME] > 0.2s", True),
        ("[CONNECTED] == true", True),
        ("[CONNECTED] == false", False),
        ("[CONNECTED] == TRUE", True),
        ("[IP] == 10.1.2.3", True),
        ("[IP] == pat(10.1.*)", True),
        ("[IP] == pat(192.168.*)", False),
        ("[IP] != pat(192.168.*)", True),
        ("[IP] =~ ^10\\.", True),
        ("[DNS_RCODE] == NOERROR", True),
        ("[DNS_RCODE] == noerror", True),
        ("[DNS_RCODE] == NXDOMAIN", False),
        ("[DNS_RCODE] == any(NOERROR, NXDOMAIN)", True),
        ("[TLS_VERSION] == TLSv1.3", True),
        ("[TLS_VERSION] == 1.3", True),
        ("[TLS_VERSION] >= 1.2", True),
        ("[TLS_VERSION] < 1.3", False),
        ("[DNS_TIME] < 10", True),
        ("[CONNECT_TIME] < 10", False),
        ("[TLS_TIME] <= 30", True),
        ("[TTFB] < 200ms", True),
        ("[TTFB] > 1s", False),
    ],
)
def test_scalar_placeholders_compare_as_gatus_does(text: str, passed: bool) -> None:
    assert check(text)[0] is passed


@pytest.mark.parametrize(
    ("text", "passed"),
    [
        ("[CERTIFICATE_EXPIRATION] > 7d", True),
        ("[CERTIFICATE_EXPIRATION] > 48h", True),
        ("[CERTIFICATE_EXPIRATION] > 31d", False),
        ("[CERTIFICATE_EXPIRATION] < 30d1m", True),
        ("[CERTIFICATE_EXPIRATION] > 2592000000", False),  # exactly 30 days in ms
        ("[CERTIFICATE_EXPIRATION] >= 2592000000", True),
        ("[CERT_NOT_BEFORE] > 1h", True),
        ("[CERT_NOT_BEFORE] > 61d", False),
    ],
)
def test_certificate_placeholders_compare_with_durations_against_now(
    text: str, passed: bool
) -> None:
    assert check(text)[0] is passed


def test_certificate_expiration_uses_the_earliest_date_in_the_chain() -> None:
    tls = TlsInfo(
        leaf_not_after=NOW + timedelta(days=80), chain_earliest_not_after=NOW + timedelta(days=3)
    )
    passed, description = check("[CERTIFICATE_EXPIRATION] > 7d", observation(tls=tls))
    assert not passed
    assert description == "[CERTIFICATE_EXPIRATION] was 3d, expected > 7d"


def test_an_expired_certificate_reads_as_a_negative_duration() -> None:
    tls = TlsInfo(leaf_not_after=NOW - timedelta(days=2, hours=3))
    passed, description = check("[CERTIFICATE_EXPIRATION] > 0", observation(tls=tls))
    assert not passed
    assert description == "[CERTIFICATE_EXPIRATION] was -2d3h, expected > 0"


@pytest.mark.parametrize(
    ("text", "passed"),
    [
        ("[DNS_ANSWERS] == 192.0.2.1, 192.0.2.2", True),
        ("[DNS_ANSWERS] == 192.0.2.2,192.0.2.1", True),  # a set: order does not matter
        ("[DNS_ANSWERS] == 192.0.2.1", False),
        ("[DNS_ANSWERS] != 192.0.2.1", True),
        ("[DNS_ANSWERS] == any(192.0.2.2, 198.51.100.1)", True),  # some answer is listed
        ("[DNS_ANSWERS] == any(198.51.100.1)", False),
        ("[DNS_ANSWERS] == pat(192.0.2.*)", True),  # every answer matches
        ("[DNS_ANSWERS] == pat(192.0.2.1)", False),
        ("[DNS_ANSWERS] =~ ^192\\.0\\.2\\.", True),
        ("len([DNS_ANSWERS]) == 2", True),
        ("has([DNS_ANSWERS]) == true", True),
    ],
)
def test_dns_answers_compare_as_a_set(text: str, passed: bool) -> None:
    assert check(text)[0] is passed


def test_no_dns_answers_fail_a_pattern_rather_than_pass_vacuously() -> None:
    obs = observation(dns=DnsInfo(record_type="A", rcode="NOERROR", answers=()))
    assert check("[DNS_ANSWERS] == pat(*)", obs)[0] is False
    assert check("has([DNS_ANSWERS]) == false", obs)[0] is True


# --------------------------------------------------------------------------- body and JSON paths


@pytest.mark.parametrize(
    ("text", "passed"),
    [
        ("[BODY].status == UP", True),
        ('[BODY].status == "UP"', True),
        ("[BODY].status != DOWN", True),
        ("[BODY].status == pat(U*)", True),
        ("[BODY].status == any(UP, OK)", True),
        ("[BODY].version =~ ^2\\.", True),
        ("[BODY].version =~ ^3\\.", False),
        ("[BODY].count == 7", True),
        ("[BODY].count == 7.0", True),
        ("[BODY].count > 5", True),
        ("[BODY].count <= 6", False),
        ("[BODY].ratio < 1", True),
        ("[BODY].text_number > 10", True),  # numeric strings order as numbers, as in Gatus
        ('[BODY].text_number == "12"', True),
        ("[BODY].text_number == 12", True),  # integer text equals an integer, as in Gatus
        ("[BODY].text_number == 0xc", True),
        ("[BODY].version == 2.4", False),
        ("[BODY].decimal_text == 2.1", False),  # "2.10" is text: a version, not a number
        ("[BODY].decimal_text == 2.10", True),
        ("[BODY].healthy == true", True),
        ("[BODY].nothing == null", True),
        ("[BODY].items[0].name == a", True),
        ("[BODY].items[1].name == b", True),
        ("[BODY].items[-1].name == b", True),
        ("[BODY].items[0].tags[1] == y", True),
        ("[BODY].matrix[1][0] == 3", True),
        ("[BODY].nested.deep.value == found", True),
        ('[BODY]["a.b"] == dotted', True),
        ("[BODY].matrix == [[1, 2], [3, 4]]", True),
        ('[BODY].items[0] == {"name": "a", "tags": ["x", "y"]}', True),
        ("len([BODY].items) == 2", True),
        ("len([BODY].items[1].tags) == 0", True),
        ("len([BODY].status) == 2", True),
        ("len([BODY].nested) == 1", True),
        ("len([BODY].nothing) == 0", True),
        ("has([BODY].status) == true", True),
        ("has([BODY].nothing) == true", True),  # the key exists, even though it is null
        ("has([BODY].absent) == false", True),
        ("has([BODY].items[5]) == false", True),
        ("has([BODY]) == true", True),
        ('[BODY] =~ "status": "UP"', True),
        ("[BODY] == pat(*UP*)", True),
    ],
)
def test_json_paths_resolve_into_objects_and_arrays(text: str, passed: bool) -> None:
    assert check(text)[0] is passed


def test_a_json_array_body_is_indexed_from_the_root() -> None:
    obs = observation(body=b'[{"id": 1}, {"id": 2}]')
    assert check("[BODY][1].id == 2", obs)[0] is True
    assert check("len([BODY]) == 2", obs)[0] is True


def test_a_plain_text_body_compares_whole_and_counts_characters() -> None:
    obs = observation(body=b"  pong\n")
    assert check("[BODY] == pong", obs)[0] is True  # surrounding whitespace is trimmed
    assert check("len([BODY]) == 4", obs)[0] is True


# --------------------------------------------------------------------------- descriptions


@pytest.mark.parametrize(
    ("text", "obs", "description"),
    [
        ("[STATUS] == 200", observation(status=503), "[STATUS] was 503, expected == 200"),
        ("[STATUS] == 200", observation(), "[STATUS] was 200 (== 200)"),
        (
            "[BODY].status == UP",
            observation(body=b'{"status": "DOWN"}'),
            '[BODY].status was "DOWN", expected == UP',
        ),
        ("[BODY].absent == UP", observation(), "[BODY].absent is missing"),
        (
            "[BODY].nested.gone.value == x",
            observation(),
            "[BODY].nested.gone.value is missing ([BODY].nested.gone is missing)",
        ),
        (
            "[BODY].items[9].name == a",
            observation(),
            "[BODY].items[9].name is missing ([BODY].items has 2 items)",
        ),
        (
            "[BODY].status.code == 1",
            observation(),
            "[BODY].status.code is missing ([BODY].status is a string, not an object)",
        ),
        (
            "[BODY].status == UP",
            observation(body=b"<html>Bad gateway</html>"),
            "[BODY].status is missing (the body is not JSON)",
        ),
        (
            "[BODY].status == UP",
            observation(body=b""),
            "[BODY].status is missing (the body is empty)",
        ),
        (
            "[BODY].status == UP",
            observation(body=b'{"status": "U', body_truncated=True),
            "[BODY].status is missing (the body is not JSON (it was cut at 13 bytes))",
        ),
        (
            "[BODY].version > 2",
            observation(),
            '[BODY].version was "2.4.1", expected > 2 (not a number)',
        ),
        ("[STATUS] == 200", observation(status=None), "[STATUS] is missing (no HTTP response)"),
        (
            "[CERTIFICATE_EXPIRATION] > 7d",
            observation(tls=None),
            "[CERTIFICATE_EXPIRATION] is missing (no TLS certificate was seen)",
        ),
        ("[DNS_RCODE] == NOERROR", observation(dns=None), "[DNS_RCODE] is missing (no DNS answer)"),
        (
            "[TLS_TIME] < 100",
            observation(timings={}),
            "[TLS_TIME] is missing (the probe did not time the tls phase)",
        ),
        (
            "[RESPONSE_TIME] < 1000",
            observation(response_time=timedelta(milliseconds=1420)),
            "[RESPONSE_TIME] was 1420 ms, expected < 1000",
        ),
        ("len([BODY].items) > 5", observation(), "len([BODY].items) was 2, expected > 5"),
        (
            "[CONNECTED] == true",
            observation(connected=False),
            "[CONNECTED] was false, expected == true",
        ),
    ],
)
def test_descriptions_say_in_words_what_was_seen_and_expected(
    text: str, obs: Observation, description: str
) -> None:
    assert check(text, obs)[1] == description


def test_a_missing_value_fails_even_a_not_equal_condition() -> None:
    assert check("[BODY].absent != UP")[0] is False


def test_a_huge_body_is_truncated_in_the_result() -> None:
    body = b"x" * (1024 * 1024)
    result = parse_condition("[BODY] == pong").evaluate(observation(body=body), now=NOW)
    assert not result.passed
    assert result.actual is not None and len(result.actual) < 200
    assert len(result.description) < 250
    assert "1048576 chars" in result.description


def test_a_huge_json_value_is_truncated_in_the_result() -> None:
    body = json.dumps({"list": list(range(200_000))}).encode()
    result = parse_condition("[BODY].list == []").evaluate(observation(body=body), now=NOW)
    assert not result.passed
    assert result.actual is not None and len(result.actual) <= 101


def test_control_characters_from_a_server_are_escaped_in_descriptions() -> None:
    obs = observation(body=b'{"status": "DOWN\\n\\u001b[31mred"}')
    _, description = check("[BODY].status == UP", obs)
    assert "\n" not in description and "\x1b" not in description
    assert '"DOWN\\n\\x1b[31mred"' in description


# --------------------------------------------------------------------------- evaluation


def test_evaluate_all_returns_one_result_per_condition_in_order() -> None:
    conditions = [parse_condition(t) for t in ("[STATUS] == 200", "[BODY].status == DOWN")]
    results = evaluate_all(conditions, observation(), now=NOW)
    assert [r.condition for r in results] == ["[STATUS] == 200", "[BODY].status == DOWN"]
    assert [r.passed for r in results] == [True, False]


def test_evaluation_never_raises_on_deeply_nested_json() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    result = parse_condition("[BODY][0] == 1").evaluate(observation(body=body), now=NOW)
    assert not result.passed
    assert "not JSON" in result.description


def test_a_condition_knows_its_parts() -> None:
    condition = parse_condition("  len([BODY].items[0].tags)   >=   2 ")
    assert condition.placeholder is Placeholder.BODY
    assert condition.function == "len"
    assert condition.path == ("items", 0, "tags")
    assert condition.left == "len([BODY].items[0].tags)"
    assert condition.operator == ">="
    assert condition.right == "2"
    assert condition.text == "len([BODY].items[0].tags)   >=   2"


def test_conditions_with_the_same_text_are_equal() -> None:
    assert parse_condition("[STATUS] == 200") == parse_condition("[STATUS] == 200")
    assert len({parse_condition("[STATUS] == 200"), parse_condition("[STATUS] == 200")}) == 1


def test_operators_need_no_surrounding_spaces() -> None:
    assert check("[STATUS]==200")[0] is True
    assert check("[BODY].count>=7")[0] is True


# --------------------------------------------------------------------------- syntax errors


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("", "empty condition", 1),
        ("   ", "empty condition", 1),
        ("[STAUTS] == 200", "unknown placeholder [STAUTS] (did you mean [STATUS]?)", 1),
        ("[FOO] == 1", "unknown placeholder [FOO] (known: [STATUS], [RESPONSE_TIME]", 1),
        ("[STATUS]", "missing operator after [STATUS]", 9),
        ("[STATUS] 200", "expected an operator (==, !=, <, <=, >, >=, =~) after [STATUS]", 10),
        ("[STATUS] = 200", "(did you mean ==?)", 10),
        ("[STATUS] => 200", "(did you mean >=?)", 10),
        ("[STATUS] === 200", "unknown operator ===", 10),
        ("[STATUS] ==", "expected a value after ==", 12),
        ("len([BODY].items > 1", "unbalanced parentheses: expected ) to close len(", 4),
        ("[STATUS == 200", "unbalanced brackets: expected ] to close the placeholder", 1),
        ("[BODY].items[0 == 1", "unbalanced brackets: expected ] in the path", 13),
        ("[BODY].items[x] == 1", "expected an array index such as [0]", 13),
        ("[BODY]. == 1", "expected a key after . in the path", 8),
        ("[STATUS].code == 1", "[STATUS] takes no path; only [BODY] does", 9),
        ("foo([BODY]) == 1", "unknown function foo() (known: len, has, pat, any)", 1),
        ("pat([IP]) == 10.*", "pat() belongs on the right side", 1),
        ("[BODY] == len([BODY])", "len() belongs on the left side", 11),
        ("[BODY].a == zap(1)", "unknown function zap()", 13),
        ("[IP] == pat(10.*", "unbalanced parentheses: expected ) to close pat(", 12),
        ("[IP] > pat(10.*)", "pat() works with == and != only", 8),
        ("[STATUS] == any()", "any() needs at least one value", 17),
        ("[BODY] =~ (unclosed", "invalid regular expression after =~", 11),
        ("[BODY] =~ ok[", "invalid regular expression after =~", 13),
        ("[STATUS] == OK", "[STATUS] is compared with a number, not 'OK'", 13),
        ("[STATUS] < 5m", "[STATUS] is not a time", 12),
        ("len([BODY]) > 2h", "len([BODY]) is not a time: 2h cannot be compared with it", 15),
        ("[BODY].uptime > 2m", "[BODY].uptime is not a time", 17),
        ("len([BODY].a) == big", "len([BODY].a) is compared with a number, not 'big'", 18),
        ("[STATUS] << 3", "unknown operator <<", 10),
        ("[RESPONSE_TIME] < fast", "compared with a duration such as 48h or a number", 19),
        ("[IP] > 3", "[IP] cannot be ordered", 8),
        ("[DNS_ANSWERS] < 3", "[DNS_ANSWERS] cannot be ordered", 17),
        ("has([BODY].a) == yes", "has() is true or false", 18),
        ("has([BODY].a) =~ true", "has() is true or false", 18),
        ("[CONNECTED] == yes", "[CONNECTED] is true or false", 16),
        ("[DNS_RCODE] == NOERR", "unknown DNS rcode NOERR", 16),
        ('[BODY].a == "open', 'unbalanced quotes: expected a closing "', 13),
        ("[BODY] == [STATUS]", "compare a placeholder with a value", 11),
        ("42 == [STATUS]", "expected a placeholder such as [STATUS] or len(...) first", 1),
    ],
)
def test_malformed_conditions_raise_a_syntax_error_that_says_what_was_expected(
    text: str, message: str, column: int
) -> None:
    with pytest.raises(ConditionSyntaxError) as caught:
        parse_condition(text)
    assert message in str(caught.value)
    assert caught.value.expression == text
    assert caught.value.column == column


def test_a_syntax_error_is_a_config_error_with_exit_code_3() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_condition("[STAUTS] == 200")
    assert caught.value.exit_code == 3


def test_a_quoted_value_may_hold_a_function_like_text() -> None:
    obs = observation(body=b'{"msg": "zap(1)"}')
    assert check('[BODY].msg == "zap(1)"', obs)[0] is True

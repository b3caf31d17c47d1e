"""The limits every value a client gives is held to, and what a client may read of an
exception."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import exc as sql

from models import limits
from models.errors import BadRequest, BadUserInput, ChorusError, is_outage, public_message


def test_whole_numbers_fit_graphql_int() -> None:
    assert limits.whole(limits.INT_MAX, "n") == limits.INT_MAX
    assert limits.whole(3.0, "n") == 3
    for value in (limits.INT_MAX + 1, -1, 1.5, True, "3", None, float("nan")):
        with pytest.raises(BadUserInput) as refused:
            limits.whole(value, "n")
        assert refused.value.field == "n"


def test_qualities_are_finite_and_from_zero_to_ten() -> None:
    assert limits.quality(0, "q") == 0.0
    assert limits.quality(10, "q") == 10.0
    for value in (float("nan"), float("inf"), -0.1, 10.01, 1e47, True, "5"):
        with pytest.raises(BadUserInput):
            limits.quality(value, "q")


def test_instants_lie_within_the_years_both_databases_hold_offsets_applied() -> None:
    naive = datetime(2024, 1, 20, 10, 30)
    assert limits.instant(naive, "at") == naive.replace(tzinfo=UTC)
    plus_two = timezone(timedelta(hours=2))
    assert limits.instant(datetime(2024, 1, 20, 12, 30, tzinfo=plus_two), "at") == datetime(
        2024, 1, 20, 10, 30, tzinfo=UTC
    )
    for text in (
        "9999-12-31T23:59:59-14:00",  # the year 10000 in UTC
        "0001-01-01T00:00:00+14:00",  # the year 0
        "0999-12-31T23:59:59Z",  # before MySQL's DATETIME
    ):
        with pytest.raises(BadUserInput):
            limits.parse_instant(text, "at")
    with pytest.raises(BadUserInput):
        limits.parse_instant("yesterday", "at")


def test_ids_are_ascii_digits_that_fit_a_bigint() -> None:
    assert limits.parse_id("42") == 42
    assert limits.parse_id(str(limits.ID_MAX)) == limits.ID_MAX
    for text in ("²", "٤٢", "0", "-1", "+1", " 1", "9" * 30, str(limits.ID_MAX + 1), ""):
        assert limits.parse_id(text) is None, text


def test_text_with_a_lone_surrogate_is_not_unicode() -> None:
    assert limits.is_unicode("fine 😀")
    assert not limits.is_unicode("\ud800")
    with pytest.raises(BadUserInput):
        limits.name("\ud800", "sessionId")
    with pytest.raises(BadUserInput):
        limits.name("x" * 101, "sessionId")


def test_json_is_read_with_bounds_on_size_and_depth() -> None:
    assert limits.parse_json('{"a": [1, 2]}', "f") == {"a": [1, 2]}
    assert limits.depth_of({"a": [[1]]}) == 3
    assert limits.depth_of(7) == 0
    assert limits.parse_json("[" * 32 + "]" * 32, "f") is not None
    for text in (
        "[" * 33 + "]" * 33,
        "[" * 100_000 + "]" * 100_000,
        '{"a": NaN}',
        "[1e400]",
        '"\\ud800"',
        " " * (limits.JSON_FIELD_MAX_BYTES + 1),
    ):
        with pytest.raises(BadUserInput) as refused:
            limits.parse_json(text, "f")
        assert refused.value.field == "f"
    # A request body (no field) that cannot be read is a bad request.
    with pytest.raises(BadRequest):
        limits.parse_json(b'{"a": "\xff"}')


def test_a_client_reads_chorus_errors_and_nothing_of_others() -> None:
    assert public_message(BadUserInput("fix this"), "request id 1") == "fix this"
    pool = sql.TimeoutError("QueuePool limit of size 5 overflow 10 reached, connection timed out")
    refused = sql.OperationalError(
        "SELECT 1", {}, Exception(2003, "Can't connect to MySQL server on 'db.internal'")
    )
    locked = sql.OperationalError("INSERT", {}, Exception("database is locked"))
    for outage in (pool, refused, locked):
        assert is_outage(outage)
        message = public_message(outage, "request id 1")
        assert "try again" in message
        assert "QueuePool" not in message
        assert "db.internal" not in message
    mistake = sql.OperationalError("SELECT", {}, Exception("near 'x': syntax error"))
    assert not is_outage(mistake)
    assert public_message(mistake, "session s-1") == "Internal server error (session s-1)."
    wrapped = RuntimeError("recording failed")
    wrapped.__cause__ = pool
    assert is_outage(wrapped)
    assert not is_outage(ChorusError("x"))

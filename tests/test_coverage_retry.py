"""``Retry-After`` as an HTTP date with no zone (``-0000``): read as UTC, like every HTTP date."""

from __future__ import annotations

from datetime import UTC, datetime

from smspartner_async._retry import parse_retry_after

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


def test_a_date_with_an_unknown_zone_counts_as_utc() -> None:
    # RFC 5322's "-0000" means "zone unknown"; email.utils hands back a naive datetime.
    assert parse_retry_after("Sun, 22 Nov 2026 12:00:30 -0000", now=NOW) == 30.0


def test_a_date_with_a_zone_is_taken_at_its_word() -> None:
    assert parse_retry_after("Sun, 22 Nov 2026 13:00:30 +0100", now=NOW) == 30.0


def test_a_date_in_the_past_means_now() -> None:
    assert parse_retry_after("Sun, 22 Nov 2026 11:00:00 -0000", now=NOW) == 0.0

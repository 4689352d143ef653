import datetime as dt
import time

import pytest
import time_machine

from heatdesk.core import clock

UTC = dt.UTC


@pytest.mark.parametrize(
    ("utc_moment", "local_date"),
    [
        # Shanghai is UTC+8 all year: the local day turns at 16:00 UTC
        (dt.datetime(2026, 1, 1, 15, 59, 59, 999999, tzinfo=UTC), dt.date(2026, 1, 1)),
        (dt.datetime(2026, 1, 1, 16, 0, 0, tzinfo=UTC), dt.date(2026, 1, 2)),
        (dt.datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC), dt.date(2026, 1, 1)),
        (dt.datetime(2025, 12, 31, 16, 0, 0, tzinfo=UTC), dt.date(2026, 1, 1)),
        (dt.datetime(2026, 2, 28, 16, 0, 0, tzinfo=UTC), dt.date(2026, 3, 1)),
        (dt.datetime(2028, 2, 28, 16, 0, 0, tzinfo=UTC), dt.date(2028, 2, 29)),
    ],
)
def test_local_today_turns_at_shanghai_midnight(utc_moment, local_date):
    with time_machine.travel(utc_moment, tick=False):
        assert clock.local_today() == local_date
        assert clock.now() == utc_moment


def test_local_today_ignores_the_process_time_zone(monkeypatch):
    # given a server whose own zone is New York (12:00 on Jan 1 there)
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        with time_machine.travel(dt.datetime(2026, 1, 1, 17, 0, tzinfo=UTC), tick=False):
            # then the business day is still Shanghai's
            assert clock.local_today() == dt.date(2026, 1, 2)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_local_day_start_is_16_utc_the_day_before():
    start = clock.local_day_start(dt.date(2026, 1, 2))
    assert start == dt.datetime(2026, 1, 1, 16, 0, tzinfo=UTC)
    assert start.utcoffset() == dt.timedelta(hours=8)


def test_to_local_and_format_local():
    moment = dt.datetime(2026, 1, 1, 16, 30, tzinfo=UTC)
    assert clock.to_local(moment).hour == 0
    assert clock.format_local(moment) == "2026-01-02 00:30"


def test_to_local_refuses_naive_datetimes():
    with pytest.raises(ValueError, match="naive"):
        clock.to_local(dt.datetime(2026, 1, 1, 12, 0))  # noqa: DTZ001 - the point of the test

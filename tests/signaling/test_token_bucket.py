"""The per-connection budget: a burst of 100, then 50 a second, with time as a parameter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from salon.signaling.token_bucket import TokenBucket

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def test_burst_then_refill_at_the_rate():
    bucket = TokenBucket(100, 50.0, T0)
    assert all(bucket.take(T0) for _ in range(100))
    assert not bucket.take(T0)
    assert bucket.take(T0 + timedelta(milliseconds=20))  # one token every 20 ms
    assert not bucket.take(T0 + timedelta(milliseconds=20))
    later = T0 + timedelta(seconds=1, milliseconds=20)
    assert sum(bucket.take(later) for _ in range(60)) == 50


def test_the_bucket_never_holds_more_than_the_burst():
    bucket = TokenBucket(100, 50.0, T0)
    much_later = T0 + timedelta(hours=1)
    assert sum(bucket.take(much_later) for _ in range(150)) == 100


def test_a_clock_going_backwards_refills_nothing():
    bucket = TokenBucket(2, 50.0, T0)
    assert bucket.take(T0)
    assert bucket.take(T0)
    assert not bucket.take(T0 - timedelta(seconds=10))

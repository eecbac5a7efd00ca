"""Points per organization per minute, on a fake clock."""

from __future__ import annotations

from datetime import timedelta

from salon.clock import FakeClock
from salon.services.rate_limit import InMemoryRateLimiter


def test_points_are_spent_and_refilled_after_the_window(clock: FakeClock):
    limiter = InMemoryRateLimiter(10, clock)
    assert limiter.consume("org", 3).remaining == 7
    assert limiter.consume("org", 3).remaining == 4
    assert limiter.consume("org", 3).remaining == 1
    refused = limiter.consume("org", 3)
    assert not refused.allowed
    assert refused.remaining == 1
    assert refused.ms_left == 60_000
    assert refused.headers()["Retry-After"] == "60"
    clock.advance(timedelta(seconds=45))
    assert limiter.consume("org", 1).allowed
    assert limiter.consume("org", 3).ms_left == 15_000
    clock.advance(timedelta(seconds=15))
    fresh = limiter.consume("org", 3)
    assert fresh.allowed and fresh.remaining == 7


def test_organizations_have_separate_budgets(clock: FakeClock):
    limiter = InMemoryRateLimiter(3, clock)
    assert limiter.consume("a", 3).allowed
    assert not limiter.consume("a", 1).allowed
    assert limiter.consume("b", 3).allowed


def test_headers_name_limit_remaining_and_reset(clock: FakeClock):
    headers = InMemoryRateLimiter(100, clock).consume("org", 2).headers()
    assert headers["X-RateLimit-Limit"] == "100"
    assert headers["X-RateLimit-Remaining"] == "98"
    assert headers["X-RateLimit-Reset"] == "Tue, 01 Jan 2030 12:01:00 GMT"
    assert "Retry-After" not in headers

"""A token bucket per connection: a burst, then a steady rate; time is a parameter."""

from __future__ import annotations

from datetime import datetime

__all__ = ["TokenBucket"]


class TokenBucket:
    """Allows ``burst`` messages at once, refilled at ``rate`` per second."""

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, burst: int, rate: float, now: datetime) -> None:
        self.burst = burst
        self.rate = rate
        self._tokens = float(burst)
        self._last = now

    def take(self, now: datetime) -> bool:
        """Spends one token if there is one; False means over budget."""
        elapsed = (now - self._last).total_seconds()
        if elapsed > 0:
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
            self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

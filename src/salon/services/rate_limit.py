"""Points per organization per minute, as Whereby counts them.

A read costs 1 point, a delete 2, a write 3. Each organization has a fixed window that opens
with its first request and lasts a minute; when its points are spent, requests are refused with
the time left until the window closes. Windows live in memory (one node); the limiter is a
Protocol so a shared store can stand in for it on several nodes.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Protocol

from salon.clock import Clock

__all__ = ["METHOD_COST", "InMemoryRateLimiter", "RateDecision", "RateLimiter"]

METHOD_COST = {"GET": 1, "HEAD": 1, "OPTIONS": 1, "DELETE": 2, "POST": 3, "PUT": 3, "PATCH": 3}


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: datetime
    ms_left: int

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": format_datetime(self.reset_at, usegmt=True),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.ms_left / 1000)))
        return headers


class RateLimiter(Protocol):
    def consume(self, key: str, cost: int) -> RateDecision: ...


class InMemoryRateLimiter:
    def __init__(self, points: int, clock: Clock, window: timedelta = timedelta(minutes=1)) -> None:
        self._points = points
        self._clock = clock
        self._window = window
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[datetime, int]] = {}

    def consume(self, key: str, cost: int) -> RateDecision:
        now = self._clock.now()
        with self._lock:
            start, used = self._windows.get(key, (now, 0))
            if now >= start + self._window:
                start, used = now, 0
            allowed = used + cost <= self._points
            if allowed:
                used += cost
            self._windows[key] = (start, used)
            if len(self._windows) > 10_000:
                self._prune(now)
        reset_at = start + self._window
        ms_left = max(0, math.ceil((reset_at - now).total_seconds() * 1000))
        return RateDecision(allowed, self._points, self._points - used, reset_at, ms_left)

    def _prune(self, now: datetime) -> None:
        expired = [k for k, (s, _) in self._windows.items() if now >= s + self._window]
        for key in expired:
            del self._windows[key]

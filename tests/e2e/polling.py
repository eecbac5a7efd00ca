"""Waiting for a condition on a shared, noisy machine: poll it, never sleep and hope."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T],
    timeout: float = 60,
    interval: float = 0.25,
    message: str = "condition",
) -> T:
    """Returns the first truthy value ``condition()`` gives within ``timeout`` seconds.

    An exception raised by ``condition`` counts as "not yet" (a page may be navigating); the last
    value or exception seen is in the AssertionError raised at the deadline.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = condition()
        except Exception as exc:  # e.g. the page is mid-navigation: try again
            last = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f} s waiting for {message}; last: {last!r}"
            )
        time.sleep(interval)

"""Which TURN servers a participant is given: those of the Salon node's region (pure)."""

from __future__ import annotations

from salon.config import TurnServer
from salon.turn.ice import servers_for_region

EU1 = TurnServer("turn-eu1.example.com", region="eu")
EU2 = TurnServer("turn-eu2.example.com", region="eu")
US = TurnServer("turn-us.example.com", region="us")
UNLABELLED = TurnServer("turn.example.com")
POOL = (EU1, US, EU2)


def test_a_region_gets_every_server_labelled_with_it_and_no_other():
    assert servers_for_region(POOL, "eu") == (EU1, EU2)  # in the pool's order
    assert servers_for_region(POOL, "us") == (US,)


def test_a_node_without_a_region_gets_the_whole_pool():
    assert servers_for_region(POOL, None) == POOL


def test_a_region_no_server_has_gets_the_whole_pool():
    # Not the first-listed region: no label is privileged by its position in the list.
    assert servers_for_region(POOL, "ap") == POOL
    assert servers_for_region((US, EU1), "ap") == (US, EU1)


def test_unlabelled_servers_are_the_default_region():
    pool = (UNLABELLED, US)
    assert servers_for_region(pool, "default") == (UNLABELLED,)
    assert servers_for_region(pool, "us") == (US,)
    assert servers_for_region(pool, None) == pool


def test_an_empty_pool_gives_nothing():
    assert servers_for_region((), "eu") == ()
    assert servers_for_region((), None) == ()

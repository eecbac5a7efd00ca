"""Which simulcast layer each video a subscriber receives should be: a sans-I/O policy.

A publisher's camera reaches the SFU in three encodings (``SimulcastLayer``: low, medium,
high); each subscriber is forwarded one of them per stream. ``LayerPolicy`` picks it, the way
LiveKit's adaptive stream and Jitsi's bandwidth allocation do, from two kinds of facts the
subscriber's browser reports:

- **its tiles**: how large each video is drawn, in device pixels, and whether it can be seen
  at all. A tile at least ``high_from`` rows tall gets the high layer, at least
  ``medium_from`` the medium one, a smaller one the low one; a tile nobody can see is paused.
  Tiles crop a 16:9 picture to fill them (CSS ``object-fit: cover``), so a wide, short tile
  needs as many rows as its width asks for: ``max(height, width * 9 / 16)``.
- **its network**: the browser's estimate of the bandwidth available to receive
  (``available_bps``, when it has one) and the share of packets lost lately (``loss``). The
  visible streams must fit in the usable part of the estimate: while they do not, the most
  expensive stream steps down one layer (of equal layers, the one drawn smallest), down to
  low. Heavy loss means the path is congested at today's rate: the policy then aims below what
  it receives now.

It does not flap. A tile must shrink ``size_margin`` below a threshold before its stream leaves
the layer it has; a stream the budget stepped down stays down for ``recover_after`` seconds,
and no stream steps up while loss is above ``loss_low``; an upgrade must fit in
``up_headroom`` of the budget, so a budget just big enough for it does not take it back at the
next report. Time is a parameter: ``decide(..., now=)`` takes it, and the returned
``wake_at`` says when a hold ends, so the caller can ask again then even if nothing else
changes. Nothing here reads a clock or does I/O.

Streams are named by the caller's keys (the signaling bridge uses the subscription's mids).
Keys missing from a ``decide`` are forgotten; ``forget`` drops one explicitly (a mid that now
carries another stream starts afresh).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

from salon.media.sfu import SimulcastLayer

__all__ = [
    "DEFAULT_CHOICE",
    "MAX_TILE_PIXELS",
    "FeedView",
    "LayerChoice",
    "LayerPlan",
    "LayerPolicy",
    "LayerRules",
    "NetworkFacts",
    "Tile",
    "rows_needed",
]

K = TypeVar("K", bound=Hashable)
# A tile larger than any screen is a bug or a lie; either way it wants no more than this.
MAX_TILE_PIXELS = 16_384


@dataclass(frozen=True, slots=True)
class Tile:
    """Where a subscriber draws one video: its size in device pixels, and whether any of it
    can be seen (on screen, in a page that is not hidden)."""

    width: int
    height: int
    visible: bool = True

    def __post_init__(self) -> None:
        for name, value in (("width", self.width), ("height", self.height)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"a tile's {name} is a whole number of pixels")
            if not 0 <= value <= MAX_TILE_PIXELS:
                raise ValueError(f"a tile's {name} is 0-{MAX_TILE_PIXELS} pixels")


@dataclass(frozen=True, slots=True)
class FeedView:
    """One video stream a subscriber receives, as the policy sees it.

    ``tile`` None: the subscriber said nothing about it (it is treated as wanted in full).
    ``simulcast`` False: the publisher sends one encoding (a screen share), which can only be
    paused, not stepped down.
    """

    tile: Tile | None
    simulcast: bool = True


@dataclass(frozen=True, slots=True)
class NetworkFacts:
    """What the subscriber's browser knows about its receiving path."""

    available_bps: int | None = None
    loss: float | None = None

    def __post_init__(self) -> None:
        if self.available_bps is not None and self.available_bps < 0:
            raise ValueError("available_bps is not negative")
        if self.loss is not None and not 0.0 <= self.loss <= 1.0:
            raise ValueError("loss is a fraction, 0-1")


@dataclass(frozen=True, slots=True)
class LayerChoice:
    """The layer a stream is forwarded in, or that it is not forwarded at all (``paused``)."""

    layer: SimulcastLayer
    paused: bool = False


# What an SFU forwards before anyone chooses: the best it has, not paused.
DEFAULT_CHOICE = LayerChoice(SimulcastLayer.HIGH)


@dataclass(frozen=True, slots=True)
class LayerPlan(Generic[K]):
    """A decision: the choice for every stream, and when to decide again (a hold ends) even
    if no new facts arrive; None when nothing waits for time."""

    choices: Mapping[K, LayerChoice]
    wake_at: float | None = None


def _default_layer_bps() -> dict[SimulcastLayer, int]:
    # What the room app's encodings are capped at (sfu-link.js, SIMULCAST).
    return {
        SimulcastLayer.LOW: 100_000,
        SimulcastLayer.MEDIUM: 300_000,
        SimulcastLayer.HIGH: 900_000,
    }


@dataclass(frozen=True, slots=True)
class LayerRules:
    """The policy's numbers. Sizes are device pixels, rates bit/s, times seconds."""

    high_from: int = 360
    medium_from: int = 180
    # A stream keeps its layer until its tile is this much smaller than the layer's threshold.
    size_margin: float = 0.15
    # What each layer costs (a paused stream costs nothing), and a stream without layers.
    layer_bps: Mapping[SimulcastLayer, int] = field(default_factory=_default_layer_bps)
    single_bps: int = 1_500_000
    # The share of the browser's estimate video may use (audio and estimation error need the
    # rest), and the share an upgrade must fit in.
    usable: float = 0.9
    up_headroom: float = 0.8
    # Loss at or above loss_low holds every stream where it is; at or above loss_high the
    # streams step down until they cost ``backoff`` of what they cost before.
    loss_low: float = 0.02
    loss_high: float = 0.10
    backoff: float = 0.75
    recover_after: float = 8.0
    pause_hidden: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.medium_from <= self.high_from:
            raise ValueError("need 0 < medium_from <= high_from")
        if not 0 <= self.size_margin < 1:
            raise ValueError("size_margin is a fraction below 1")
        if set(self.layer_bps) != set(SimulcastLayer):
            raise ValueError("layer_bps names every layer")
        costs = [self.layer_bps[layer] for layer in sorted(SimulcastLayer)]
        if costs != sorted(costs) or costs[0] < 0:
            raise ValueError("a higher layer costs at least as much as a lower one")
        if not 0 < self.up_headroom <= 1 or not 0 < self.usable <= 1:
            raise ValueError("usable and up_headroom are fractions, above 0")
        if not 0 <= self.loss_low <= self.loss_high <= 1:
            raise ValueError("need 0 <= loss_low <= loss_high <= 1")
        if not 0 < self.backoff < 1:
            raise ValueError("backoff is a fraction between 0 and 1")
        if self.recover_after < 0:
            raise ValueError("recover_after is not negative")


def rows_needed(tile: Tile) -> int:
    """The picture rows a 16:9 video needs to fill ``tile`` (cropping what overflows)."""
    return max(tile.height, math.ceil(tile.width * 9 / 16))


class LayerPolicy(Generic[K]):
    """One subscriber's layer choices over time. Feed it facts; it returns choices."""

    def __init__(self, rules: LayerRules | None = None) -> None:
        self._rules = rules or LayerRules()
        self._chosen: dict[K, LayerChoice] = {}
        # When the budget last stepped each stream down: it may not step up before
        # recover_after has passed.
        self._limited_at: dict[K, float] = {}

    @property
    def rules(self) -> LayerRules:
        return self._rules

    def chosen(self) -> dict[K, LayerChoice]:
        """The choices of the last decision."""
        return dict(self._chosen)

    def forget(self, key: K) -> None:
        """Drops what the policy remembers of ``key`` (its stream is gone or replaced)."""
        self._chosen.pop(key, None)
        self._limited_at.pop(key, None)

    def decide(
        self, feeds: Mapping[K, FeedView], network: NetworkFacts, *, now: float
    ) -> LayerPlan[K]:
        """The layer of each stream in ``feeds`` from now on."""
        for key in [k for k in self._chosen if k not in feeds]:
            self.forget(key)
        for key in [k for k in self._limited_at if k not in feeds]:
            del self._limited_at[key]
        rules = self._rules
        wanted = {key: self._by_tile(key, view) for key, view in feeds.items()}
        choices = dict(wanted)
        for key, choice in wanted.items():
            if self._holds(key, choice, feeds[key], network, now):
                choices[key] = replace(choice, layer=self._chosen[key].layer)

        budget = math.inf
        if network.available_bps is not None:
            budget = network.available_bps * rules.usable
        if network.loss is not None and network.loss >= rules.loss_high:
            before = sum(self._cost(self._chosen[k], feeds[k]) for k in feeds if k in self._chosen)
            if before > 0:
                budget = min(budget, before * rules.backoff)

        choices = self._fit_upgrades(choices, feeds, budget)
        self._step_down(choices, feeds, budget, now)

        self._chosen = choices
        for key in [k for k, at in self._limited_at.items() if now - at >= rules.recover_after]:
            del self._limited_at[key]
        # Only a stream held below what its tile wants has a reason to be asked about again.
        waits = [
            at + rules.recover_after
            for key, at in self._limited_at.items()
            if choices[key].layer < wanted[key].layer and not choices[key].paused
        ]
        return LayerPlan(dict(choices), min(waits) if waits else None)

    # --- the rules ------------------------------------------------------------------------

    def _by_tile(self, key: K, view: FeedView) -> LayerChoice:
        """What the tile alone asks for."""
        rules = self._rules
        tile = view.tile
        if tile is None:
            return DEFAULT_CHOICE
        hidden = not tile.visible or tile.width == 0 or tile.height == 0
        if hidden:
            return LayerChoice(SimulcastLayer.LOW, paused=rules.pause_hidden)
        if not view.simulcast:
            return DEFAULT_CHOICE
        rows = rows_needed(tile)
        before = self._chosen.get(key)
        current = None if before is None or before.paused else before.layer
        for layer, threshold in (
            (SimulcastLayer.HIGH, rules.high_from),
            (SimulcastLayer.MEDIUM, rules.medium_from),
        ):
            keeps = current is not None and current >= layer
            if rows >= (threshold * (1 - rules.size_margin) if keeps else threshold):
                return LayerChoice(layer)
        return LayerChoice(SimulcastLayer.LOW)

    def _holds(
        self, key: K, choice: LayerChoice, view: FeedView, network: NetworkFacts, now: float
    ) -> bool:
        """Whether a step up of ``key`` must wait (loss, or a recent budget step-down)."""
        before = self._chosen.get(key)
        if before is None or before.paused or choice.paused or not view.simulcast:
            return False  # new, resumed or pausing streams start from what the tile asks
        if choice.layer <= before.layer:
            return False
        rules = self._rules
        if network.loss is not None and network.loss >= rules.loss_low:
            return True
        limited = self._limited_at.get(key)
        return limited is not None and now - limited < rules.recover_after

    def _cost(self, choice: LayerChoice, view: FeedView) -> float:
        if choice.paused:
            return 0
        if not view.simulcast:
            return self._rules.single_bps
        return self._rules.layer_bps[choice.layer]

    def _fit_upgrades(
        self, choices: dict[K, LayerChoice], feeds: Mapping[K, FeedView], budget: float
    ) -> dict[K, LayerChoice]:
        """``choices``, keeping each step up only if the total then fits in the upgrade
        headroom; the largest tiles keep theirs first."""
        ups = [
            key
            for key, choice in choices.items()
            if (before := self._chosen.get(key)) is not None
            and not before.paused
            and not choice.paused
            and choice.layer > before.layer
        ]
        if not ups:
            return choices
        kept = dict(choices)
        for key in ups:
            kept[key] = self._chosen[key]
        total = sum(self._cost(kept[k], feeds[k]) for k in kept)
        limit = budget * self._rules.up_headroom
        for key in sorted(ups, key=lambda k: -_rows(feeds[k])):
            extra = self._cost(choices[key], feeds[key]) - self._cost(kept[key], feeds[key])
            if total + extra <= limit:
                kept[key] = choices[key]
                total += extra
        return kept

    def _step_down(
        self,
        choices: dict[K, LayerChoice],
        feeds: Mapping[K, FeedView],
        budget: float,
        now: float,
    ) -> None:
        """Steps the most expensive streams down, one layer at a time, until they fit."""
        total = sum(self._cost(choices[k], feeds[k]) for k in choices)
        while total > budget:
            movable = [
                key
                for key, choice in choices.items()
                if feeds[key].simulcast and not choice.paused and choice.layer > SimulcastLayer.LOW
            ]
            if not movable:
                return  # everything is as low as it goes; pausing visible video is not ours
            key = max(movable, key=lambda k: (choices[k].layer, -_rows(feeds[k])))
            lower = LayerChoice(SimulcastLayer(choices[key].layer - 1))
            total -= self._cost(choices[key], feeds[key]) - self._cost(lower, feeds[key])
            choices[key] = lower
            self._limited_at[key] = now


def _rows(view: FeedView) -> int:
    """How large a stream is drawn, for ordering (unknown counts as the largest)."""
    return MAX_TILE_PIXELS if view.tile is None else rows_needed(view.tile)

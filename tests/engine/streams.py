"""Random command streams for the equivalence, determinism, no-JIT and snapshot tests.

Small id, account and price ranges so that orders cross, self-trade, collide on ids and hit stops
often. Two generators share one vocabulary: a hypothesis strategy (shrinks to a minimal stream) and a
seeded `random.Random` generator (for subprocess tests that need a file).

Only values whose meaning ENGINE.md fixes are generated: no null fields, no invalid order/account ids,
no non-bool post_only, no float quantities equal to an integer (see model.py "SILENT:" choices).
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import strategies as st

Command = dict[str, Any]

SYMBOLS = ("A", "A", "A", "B")
SIDES = ("buy", "sell")
TYPES = ("limit",) * 6 + ("market", "stop_limit", "stop_market")
TIFS = ("gtc", "gtc", "gtc", "ioc", "fok", "gtd", "gtd")
STPS = ("none", "none", "cancel_taker", "cancel_maker", "cancel_both", "decrement")
LOW_PRICE, HIGH_PRICE = 96, 104
MAX_ID = 25

BAD_SIDES: tuple[Any, ...] = ("BUY", "", 1)
BAD_TYPES: tuple[Any, ...] = ("stop", "LIMIT")
BAD_INTS: tuple[Any, ...] = (0, -1, True, 1.5, "3", 2**63)
BAD_TIFS: tuple[Any, ...] = ("day", 1)
BAD_STPS: tuple[Any, ...] = ("cancel", True)
BAD_EXPIRE_AT: tuple[Any, ...] = ("soon", True, 2.5)


def _rarely_bad(valid: st.SearchStrategy[Any], bad: tuple[Any, ...], one_in: int = 50) -> st.SearchStrategy[Any]:
    # sampled_from draws its index about uniformly (integers() would favour the boundary 0);
    # the last index picks a bad value, so streams shrink toward valid values.
    return st.sampled_from(range(one_in)).flatmap(lambda k: st.sampled_from(bad) if k == one_in - 1 else valid)


_ids = st.integers(0, MAX_ID)
_prices = st.integers(LOW_PRICE, HIGH_PRICE)
_qtys = st.integers(1, 12)
# Extreme but valid values: int64 sums, FOK dry runs and iceberg slices must not overflow.
INT64_MAX = 2**63 - 1
_big_qtys = st.sampled_from((1, 2, 3, 7, 2**61 + 3, 2**62, INT64_MAX - 1, INT64_MAX))
_big_prices = st.sampled_from(range(20)).flatmap(
    lambda k: st.sampled_from((1, INT64_MAX - 1, INT64_MAX)) if k == 19 else _prices
)


def _steps(
    qtys: st.SearchStrategy[int],
    prices: st.SearchStrategy[int],
    displays: st.SearchStrategy[int],
    bad_displays: tuple[Any, ...] = (0, 13),
) -> st.SearchStrategy[Any]:
    new_orders = st.fixed_dictionaries(
        {
            "op": st.just("new"),
            "order_id": _ids,
            "account_id": st.integers(1, 3),
            "side": _rarely_bad(st.sampled_from(SIDES), BAD_SIDES),
            "type": _rarely_bad(st.sampled_from(TYPES), BAD_TYPES),
            "qty": _rarely_bad(qtys, BAD_INTS),
            "price": _rarely_bad(prices, BAD_INTS),
            "trigger_price": _rarely_bad(prices, BAD_INTS),
        },
        optional={
            "tif": _rarely_bad(st.sampled_from(TIFS), BAD_TIFS),
            # expire_at is relative to the command's ts until the stream is assembled
            "expire_at": _rarely_bad(st.integers(-1, 8), BAD_EXPIRE_AT, one_in=20),
            "post_only": st.sampled_from((False, False, True)),
            "display_qty": _rarely_bad(displays, bad_displays, one_in=20),
            "stp": _rarely_bad(st.sampled_from(STPS), BAD_STPS),
        },
    )
    cancels = st.fixed_dictionaries({"op": st.just("cancel"), "order_id": _ids})
    amends = st.fixed_dictionaries(
        {"op": st.just("amend"), "order_id": _ids},
        optional={"price": _rarely_bad(prices, (0, -2, True)), "qty": _rarely_bad(qtys, (0, True, 1.5))},
    )
    bad_ops = st.fixed_dictionaries({"op": st.sampled_from(["replace", "NEW"]), "order_id": _ids})
    bodies = st.sampled_from(range(20)).flatmap(
        lambda k: new_orders if k < 13 else cancels if k < 15 else amends if k < 19 else bad_ops
    )
    return st.tuples(st.sampled_from(SYMBOLS), st.sampled_from((0, 0, 0, 1, 1, 2, 4)), bodies)


_small_steps = _steps(_qtys, _prices, st.integers(1, 6))
# Only big slices with big quantities: a 1-lot slice of a 2**62-lot iceberg would take 2**62 trades.
# Their invalid displays must be invalid for every qty: 13 is a valid (tiny) slice of a huge qty.
_extreme_steps = _steps(
    _big_qtys, _big_prices, st.sampled_from((2**61 + 3, 2**62, INT64_MAX - 1)), bad_displays=(0, -1, True)
)


def _assemble(steps: list[tuple[str, int, Command]]) -> list[Command]:
    """Give each command its symbol and a non-decreasing ts; make expire_at absolute."""
    commands: list[Command] = []
    ts = 0
    for symbol, ts_step, body in steps:
        ts += ts_step
        command: Command = {"symbol": symbol, **body, "ts": ts}
        if isinstance(command.get("expire_at"), int) and not isinstance(command["expire_at"], bool):
            command["expire_at"] += ts
        commands.append(command)
    return commands


def command_streams(
    min_size: int = 8, max_size: int = 80, *, extreme: bool = False
) -> st.SearchStrategy[list[Command]]:
    """Streams of commands; `extreme` draws quantities up to int64 max and, rarely, extreme prices."""
    steps = _extreme_steps if extreme else _small_steps
    return st.lists(steps, min_size=min_size, max_size=max_size).map(_assemble)


def random_stream(seed: int, size: int) -> list[Command]:
    """A stream from the same vocabulary, drawn with random.Random(seed)."""
    rng = random.Random(seed)
    max_id = max(MAX_ID, size // 3)

    def maybe_bad(valid: Any, bad: tuple[Any, ...], one_in: int = 50) -> Any:
        return rng.choice(bad) if rng.randrange(one_in) == 0 else valid

    steps: list[tuple[str, int, Command]] = []
    for _ in range(size):
        kind = rng.randrange(20)
        body: Command
        if kind < 13:
            body = {
                "op": "new",
                "order_id": rng.randint(0, max_id),
                "account_id": rng.randint(1, 3),
                "side": maybe_bad(rng.choice(SIDES), BAD_SIDES),
                "type": maybe_bad(rng.choice(TYPES), BAD_TYPES),
                "qty": maybe_bad(rng.randint(1, 12), BAD_INTS),
                "price": maybe_bad(rng.randint(LOW_PRICE, HIGH_PRICE), BAD_INTS),
                "trigger_price": maybe_bad(rng.randint(LOW_PRICE, HIGH_PRICE), BAD_INTS),
            }
            if rng.random() < 0.7:
                body["tif"] = maybe_bad(rng.choice(TIFS), BAD_TIFS)
            if rng.random() < 0.6:
                body["expire_at"] = maybe_bad(rng.randint(-1, 8), BAD_EXPIRE_AT, one_in=20)
            if rng.random() < 0.2:
                body["post_only"] = rng.random() < 0.3
            if rng.random() < 0.3:
                body["display_qty"] = maybe_bad(rng.randint(1, 6), (0, 13), one_in=20)
            if rng.random() < 0.6:
                body["stp"] = maybe_bad(rng.choice(STPS), BAD_STPS)
        elif kind < 15:
            body = {"op": "cancel", "order_id": rng.randint(0, max_id)}
        elif kind < 19:
            body = {"op": "amend", "order_id": rng.randint(0, max_id)}
            if rng.random() < 0.6:
                body["price"] = maybe_bad(rng.randint(LOW_PRICE, HIGH_PRICE), (0, -2, True))
            if rng.random() < 0.6:
                body["qty"] = maybe_bad(rng.randint(1, 12), (0, True, 1.5))
        else:
            body = {"op": rng.choice(["replace", "NEW"]), "order_id": rng.randint(0, MAX_ID)}
        steps.append((rng.choice(SYMBOLS), rng.choice((0, 0, 0, 1, 1, 2, 4)), body))
    return _assemble(steps)

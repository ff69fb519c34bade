"""Independent checks of the write side's invariants, computed from the aggregates' state and fills."""

from __future__ import annotations

from collections import defaultdict
from uuid import UUID

from commands.ledger import Ledger
from commands.venue import Venue
from domain.order import Order
from domain.position import Position
from domain.wallet import Wallet
from infra.balances_report import balance_rows, check_invariants


def all_of(ledger: Ledger, created: type, cls: type) -> list:  # type: ignore[type-arg]
    found = []
    for aggregate_id in ledger.list_of(created):
        aggregate = ledger.repository.get(aggregate_id)
        assert isinstance(aggregate, cls)
        found.append(aggregate)
    return found


def check_venue_invariants(venue: Venue) -> None:
    ledger = venue.ledger
    report = check_invariants(balance_rows(ledger))
    assert report.holds, report.violations

    orders: list[Order] = all_of(ledger, Order.Created, Order)
    wallets: dict[int, Wallet] = {w.account_id: w for w in all_of(ledger, Wallet.Created, Wallet)}
    positions: list[Position] = all_of(ledger, Position.Created, Position)

    # an order's filled qty never exceeds what it was asked for; statuses agree with open qty
    fills_by_trade: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    expected_holds: dict[tuple[int, str], int] = {}
    position_sums: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])  # net, fees, bought
    for order in orders:
        assert order.filled_qty_lots >= 0 and order.leaves_qty_lots >= 0
        assert order.filled_qty_lots <= max(order.terms["qty_lots"], order.filled_qty_lots + order.leaves_qty_lots)
        if order.status == "filled":
            assert order.leaves_qty_lots == 0
        if order.is_live:
            assert order.leaves_qty_lots > 0
            expected_holds[(order.terms["account_id"], order.hold_ref)] = order.open_hold
        else:
            assert order.leaves_qty_lots == 0
        for event_fill in _fills(ledger, order.id):
            fills_by_trade[event_fill.trade_id].append((order.terms["side"], event_fill.price_ticks,
                                                         event_fill.qty_lots))
            sums = position_sums[(order.terms["account_id"], order.terms["symbol"])]
            sums[0] += event_fill.qty_lots if order.terms["side"] == "buy" else -event_fill.qty_lots
            sums[1] += event_fill.fee
    # every trade has exactly one buy fill and one sell fill, with equal price and qty
    for trade_id, legs in fills_by_trade.items():
        assert sorted(leg[0] for leg in legs) == ["buy", "sell"], (trade_id, legs)
        assert legs[0][1:] == legs[1][1:], (trade_id, legs)
    # open holds equal what open orders could still cost, and nothing else is held
    actual_holds = {(account, ref): int(entry[1]) for account, wallet in wallets.items()
                    for ref, entry in wallet.holds.items()}
    assert actual_holds == expected_holds
    # positions equal the sum of their fills
    for position in positions:
        net, fees, _ = position_sums[(position.account_id, position.symbol)]
        assert (position.net_qty_lots, position.fees_paid) == (net, fees), position.symbol
    # the engine's books hold exactly the venue's open orders (waiting stops are not in the book)
    for symbol, runtime in venue.markets.items():
        in_book = {order_id for side in runtime.book.levels().values() for _, queue in side
                   for order_id, *_ in queue}
        live = {order_id: order for (s, order_id), order in venue.live.items() if s == symbol}
        assert in_book <= set(live), (symbol, in_book - set(live))
        for order_id in set(live) - in_book:
            order = live[order_id]
            assert order.terms["order_type"].startswith("stop") and not order.triggered, (symbol, order_id)


def _fills(ledger: Ledger, order_id: UUID) -> list:  # type: ignore[type-arg]
    return [fill for event in ledger.events.get(order_id) if isinstance(event, Order.FillsRecorded)
            for fill in event.fills]

"""From-scratch computations of every read model over the event log, written independently of projections/.

The log is read with eventsourcing's own `select_notifications` and the ledger's mapper, and every rule
is written out again here from the domain's documentation (docs/ledger.md, domain/*.py docstrings),
with plain dicts and integers: order lifecycle, trade pairing, balances and holds, the position
rounding rule, instrument history. The tests compare the read models with these.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from commands.ledger import Ledger
from domain.ids import instrument_id
from projections.market_data import TradeRow

Logged = tuple[int, Any]


def read_log(ledger: Ledger) -> list[Logged]:
    out: list[Logged] = []
    start = 1
    while True:
        page = ledger.recorder.select_notifications(start, 5_000)
        out.extend((n.id, ledger.mapper.to_domain_event(n)) for n in page)
        if len(page) < 5_000:
            return out
        start = page[-1].id + 1


def topic(event: Any) -> str:
    return str(type(event).TOPIC)


@dataclass
class Model:
    orders: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    order_events: list[tuple[str, int, int, int, str, str, int, int, int]] = field(default_factory=list)
    fills: list[tuple[int, int, int, str, int, str, str, int, int, int, str]] = field(default_factory=list)
    trades: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    balances: dict[tuple[int, str], list[int]] = field(default_factory=dict)  # [total, held]
    journal: list[tuple[int, str, int, int, str, int, int, str, str, int, int]] = field(default_factory=list)
    positions: dict[tuple[int, str], dict[str, int]] = field(default_factory=dict)
    last_price: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    instrument_history: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    assets: dict[str, int] = field(default_factory=dict)
    ch_order_events: list[tuple[Any, ...]] = field(default_factory=list)  # ClickHouse order_events rows
    snapshots: list[tuple[Any, ...]] = field(default_factory=list)  # (position, account, symbol, state...)
    head: int = 0

    def trade_rows(self) -> list[TradeRow]:
        return [TradeRow(t["number"], t["trade_id"], t["symbol"], t["at_ns"], t["price_ticks"], t["qty_lots"],
                         t["notional"], t["taker_side"], t["buy_account"], t["sell_account"], t["buy_order_id"],
                         t["sell_order_id"]) for t in self.trades.values()]


def model(log: list[Logged]) -> Model:
    m = Model(head=max((nid for nid, _ in log), default=0))
    by_uuid: dict[Any, dict[str, Any]] = {}
    wallets: dict[Any, int] = {}
    positions_by_uuid: dict[Any, dict[str, int]] = {}
    specs: dict[str, dict[str, Any]] = {}
    status: dict[str, str] = {}
    symbols: dict[Any, str] = {}
    halves: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for nid, event in log:
        name = topic(event)
        kind = name.rsplit(".", 1)[1]
        if name.startswith("tradex.Order."):
            if kind == "Placed":
                terms = event.terms
                order = {"symbol": terms["symbol"], "order_id": terms["order_id"], "account_id": terms["account_id"],
                         "side": terms["side"], "status": event.outcome, "price_ticks": terms["price_ticks"],
                         "leaves": 0 if event.outcome == "rejected" else terms["qty_lots"], "filled": 0,
                         "notional": 0, "fees": 0, "triggered": False, "reason": event.reason, "version": 1,
                         "placed_position": nid, "last_position": nid}
                by_uuid[event.originator_id] = order
                order["order_type"] = terms["order_type"]
                m.orders[(order["symbol"], order["order_id"])] = order
                qty = terms["qty_lots"]
            else:
                order = by_uuid[event.originator_id]
                assert event.originator_version == order["version"] + 1
                order["version"] += 1
                order["last_position"] = nid
                qty = 0
                if kind == "FillsRecorded":
                    for seq, fill in enumerate(event.fills):
                        order["leaves"] -= fill.qty_lots
                        order["filled"] += fill.qty_lots
                        order["notional"] += fill.price_ticks * fill.qty_lots
                        order["fees"] += fill.fee
                        qty += fill.qty_lots
                        m.ch_order_events.append((nid, seq, order["symbol"], order["account_id"], order["order_id"],
                                                  "filled", order["side"], order["order_type"], fill.price_ticks,
                                                  fill.qty_lots, order["leaves"], fill.fee, fill.liquidity,
                                                  fill.trade_id, ""))
                        m.fills.append((order["account_id"], nid, seq, order["symbol"], order["order_id"],
                                        fill.trade_id, order["side"], fill.price_ticks, fill.qty_lots, fill.fee,
                                        fill.liquidity))
                        halves[fill.trade_id].append({"order": order, "fill": fill, "at_ns": event.at_ns, "nid": nid})
                    order["status"] = "filled" if order["leaves"] == 0 else "partially_filled"
                elif kind == "Accepted":
                    order["status"] = "accepted"
                elif kind == "Rejected":
                    order["status"], order["leaves"], order["reason"] = "rejected", 0, event.reason
                elif kind == "Amended":
                    order["price_ticks"], order["leaves"] = event.price_ticks, event.leaves_qty_lots
                    qty = event.leaves_qty_lots
                elif kind == "Reduced":
                    order["leaves"] -= event.qty_lots
                    order["reason"], qty = event.reason, event.qty_lots
                elif kind == "Triggered":
                    order["triggered"] = True
                elif kind in ("Cancelled", "Expired"):
                    order["status"] = kind.lower()
                    order["leaves"], qty = 0, event.qty_lots
                    if kind == "Cancelled":
                        order["reason"] = event.reason
            m.order_events.append((order["symbol"], order["order_id"], event.originator_version, nid,
                                   _event_type(kind), order["status"], order["price_ticks"], order["leaves"], qty))
            if kind != "FillsRecorded":
                m.ch_order_events.append((nid, 0, order["symbol"], order["account_id"], order["order_id"],
                                          _event_type(kind), order["side"], order["order_type"],
                                          order["price_ticks"], qty, order["leaves"], 0, "", "",
                                          getattr(event, "reason", "")))
        elif name.startswith("tradex.Wallet."):
            if kind == "Opened":
                wallets[event.originator_id] = event.account_id
                continue
            account = wallets[event.originator_id]
            if kind == "EntriesPosted":
                for seq, entry in enumerate(event.entries):
                    balance = m.balances.setdefault((account, entry.asset), [0, 0])
                    balance[0] += entry.amount
                    if entry.hold_ref:
                        balance[1] -= -entry.amount
                    m.journal.append((account, entry.asset, nid, seq, entry.posting_id, entry.amount,
                                      entry.counterparty, entry.kind, entry.hold_ref, balance[0], balance[1]))
            else:
                changes = ([(ch.asset, ch.amount) for ch in event.changes] if kind == "HoldsChanged"
                           else [(event.asset, event.amount if kind == "FundsHeld" else -event.amount)])
                for asset, amount in changes:
                    m.balances.setdefault((account, asset), [0, 0])[1] += amount
        elif name.startswith("tradex.Position."):
            if kind == "Opened":
                p = {"account_id": event.account_id, "tick_lot_value": event.tick_lot_value, "net": 0, "cost": 0,
                     "realized": 0, "fees": 0, "bought": 0, "sold": 0, "version": 1}
                positions_by_uuid[event.originator_id] = p
                m.positions[(event.account_id, event.symbol)] = p
                m.snapshots.append((nid, event.account_id, event.symbol, 0, 0, 0, 0, 0, 0, event.tick_lot_value))
                continue
            p = positions_by_uuid[event.originator_id]
            p["version"] += 1
            symbol = next(s for (a, s), q in m.positions.items() if q is p)
            for seq, fill in enumerate(event.fills):
                apply_position_fill(p, fill)
                key = (event.at_ns, nid, seq, fill.price_ticks)
                if key > m.last_price.get(symbol, (-1, -1, -1, -1)):
                    m.last_price[symbol] = key
            m.snapshots.append((nid, p["account_id"], symbol, p["net"], p["cost"], p["realized"], p["fees"],
                                p["bought"], p["sold"], p["tick_lot_value"]))
        elif name.startswith("tradex.Instrument."):
            if kind == "Listed":
                symbol = event.spec["symbol"]
                symbols[event.originator_id] = symbol
                specs[symbol] = dict(event.spec)
                status[symbol] = "trading"
            else:
                symbol = symbols[event.originator_id]
                if kind == "Changed":
                    specs[symbol].update(event.changes)
                else:
                    status[symbol] = {"Halted": "halted", "Resumed": "trading", "Delisted": "delisted"}[kind]
            assert instrument_id(symbol) == event.originator_id
            m.instrument_history.setdefault(symbol, []).append(
                (nid, {**specs[symbol], "status": status[symbol], "version": event.originator_version}))
        elif name == "tradex.Asset.Registered":
            m.assets[event.code] = event.scale
        if name.startswith("tradex.Order.") and kind == "FillsRecorded":
            for fill in event.fills:
                pair = halves[fill.trade_id]
                if len(pair) == 2:
                    m.trades[_trade_key(fill.trade_id)] = _trade(pair, specs)
    return m


def _event_type(kind: str) -> str:
    return {"Placed": "placed", "FillsRecorded": "filled"}.get(kind, kind.lower())


def _trade_key(trade_id: str) -> tuple[str, int]:
    symbol, number = trade_id.rsplit(":", 1)
    return symbol, int(number)


def _trade(pair: list[dict[str, Any]], specs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    buy = next(h for h in pair if h["order"]["side"] == "buy")
    sell = next(h for h in pair if h["order"]["side"] == "sell")
    fill = buy["fill"]
    assert (fill.price_ticks, fill.qty_lots) == (sell["fill"].price_ticks, sell["fill"].qty_lots)
    symbol, number = _trade_key(fill.trade_id)
    spec = specs[symbol]
    tick_lot_value = spec["tick_size"] * spec["lot_size"] // 10 ** spec["base_scale"]
    return {"symbol": symbol, "number": number, "trade_id": fill.trade_id, "at_ns": buy["at_ns"],
            "position": max(buy["nid"], sell["nid"]), "price_ticks": fill.price_ticks, "qty_lots": fill.qty_lots,
            "notional": fill.price_ticks * fill.qty_lots * tick_lot_value,
            "taker_side": "buy" if fill.liquidity == "taker" else "sell",
            "buy_account": buy["order"]["account_id"], "sell_account": sell["order"]["account_id"],
            "buy_order_id": buy["order"]["order_id"], "sell_order_id": sell["order"]["order_id"],
            "buy_fee": fill.fee, "sell_fee": sell["fill"].fee}


def apply_position_fill(p: dict[str, int], fill: Any) -> None:
    """The position rule of docs/ledger.md, written out: a reduction releases floor(|cost| x closed / |net|)."""
    qty = fill.qty_lots if fill.side == "buy" else -fill.qty_lots
    p["bought" if fill.side == "buy" else "sold"] += fill.qty_lots
    p["fees"] += fill.fee
    value = fill.qty_lots * fill.lot_value
    if p["net"] == 0 or (p["net"] > 0) == (qty > 0):
        p["net"] += qty
        p["cost"] += value if qty > 0 else -value
        return
    closed = min(abs(qty), abs(p["net"]))
    if closed == abs(p["net"]):
        released = p["cost"]
    else:
        magnitude = abs(p["cost"]) * closed // abs(p["net"])
        released = magnitude if p["cost"] > 0 else -magnitude
    cash = closed * fill.lot_value
    p["realized"] += (cash - released) if p["net"] > 0 else (-released - cash)
    p["cost"] -= released
    opened = abs(qty) - closed
    p["net"] += qty
    if opened:
        p["cost"] = (opened if qty > 0 else -opened) * fill.lot_value

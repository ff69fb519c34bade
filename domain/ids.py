"""Deterministic aggregate ids (uuid5), so commands address aggregates without a lookup."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5


def _id(path: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"tradex:{path}")


def asset_id(code: str) -> UUID:
    return _id(f"/assets/{code}")


def instrument_id(symbol: str) -> UUID:
    return _id(f"/instruments/{symbol}")


def account_id_uuid(account_id: int) -> UUID:
    return _id(f"/accounts/{account_id}")


def wallet_id(account_id: int) -> UUID:
    return _id(f"/wallets/{account_id}")


def position_id(account_id: int, symbol: str) -> UUID:
    return _id(f"/positions/{account_id}/{symbol}")


def order_uuid(symbol: str, order_id: int) -> UUID:
    return _id(f"/orders/{symbol}/{order_id}")


def command_uuid(command_id: str) -> UUID:
    return _id(f"/commands/{command_id}")


def market_id(symbol: str) -> UUID:
    return _id(f"/markets/{symbol}")

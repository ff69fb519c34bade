"""Deterministic aggregate ids (uuid5), so commands address aggregates without a lookup."""

from __future__ import annotations

from functools import lru_cache
from uuid import NAMESPACE_URL, UUID, uuid5

# Ids of long-lived aggregates are asked for again and again (every order touches a wallet, a
# position, an account and an instrument): uuid5 costs a few microseconds, the cache a lookup.
_cached = lru_cache(maxsize=1 << 20)


def _id(path: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"tradex:{path}")


@_cached
def asset_id(code: str) -> UUID:
    return _id(f"/assets/{code}")


@_cached
def instrument_id(symbol: str) -> UUID:
    return _id(f"/instruments/{symbol}")


@_cached
def account_id_uuid(account_id: int) -> UUID:
    return _id(f"/accounts/{account_id}")


@_cached
def wallet_id(account_id: int) -> UUID:
    return _id(f"/wallets/{account_id}")


@_cached
def position_id(account_id: int, symbol: str) -> UUID:
    return _id(f"/positions/{account_id}/{symbol}")


def order_uuid(symbol: str, order_id: int) -> UUID:
    return _id(f"/orders/{symbol}/{order_id}")


def command_uuid(command_id: str) -> UUID:
    return _id(f"/commands/{command_id}")


@_cached
def market_id(symbol: str) -> UUID:
    return _id(f"/markets/{symbol}")

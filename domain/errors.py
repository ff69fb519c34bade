"""Domain errors: each carries a machine-readable code and a human message."""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """Base of every refusal the ledger gives. Nothing is stored when one is raised."""

    code: str = "ledger_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidAmount(LedgerError):
    code = "invalid_amount"


class InvalidQuantity(LedgerError):
    code = "invalid_qty"


class InvalidPrice(LedgerError):
    code = "invalid_price"


class OffTickPrice(LedgerError):
    code = "off_tick_price"


class OffLotQuantity(LedgerError):
    code = "off_lot_qty"


class PriceOutsideBand(LedgerError):
    code = "price_outside_band"


class QuantityOutOfRange(LedgerError):
    code = "qty_out_of_range"


class UnknownAsset(LedgerError):
    code = "unknown_asset"


class UnknownInstrument(LedgerError):
    code = "unknown_instrument"


class UnknownAccount(LedgerError):
    code = "unknown_account"


class DuplicateEntity(LedgerError):
    code = "already_exists"


class InvalidReferenceData(LedgerError):
    code = "invalid_reference_data"


class InstrumentHasOpenOrders(LedgerError):
    """Tick or lot size may change only while no order rests or waits in the book: open orders' prices and
    quantities are counted in ticks and lots, and their holds in the old units."""

    code = "instrument_has_open_orders"


class InsufficientFunds(LedgerError):
    code = "insufficient_funds"


class UnknownHold(LedgerError):
    code = "unknown_hold"


class HoldExceeded(LedgerError):
    code = "hold_exceeded"


class AccountNotVerified(LedgerError):
    code = "account_not_verified"


class AccountFrozen(LedgerError):
    code = "account_frozen"


class InstrumentNotTrading(LedgerError):
    code = "instrument_not_trading"


class IllegalTransition(LedgerError):
    """An aggregate was asked to move to a state its state table does not allow."""

    code = "illegal_transition"


class InvalidFill(LedgerError):
    code = "invalid_fill"


class OrderRefused(LedgerError):
    """A pre-trade check refused an order; `code` names the check."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message, **details)
        self.code = code


class UnknownOrder(LedgerError):
    code = "unknown_order"


class CommandConflict(LedgerError):
    """The same command id was sent again with a different body."""

    code = "command_conflict"


class InvariantViolation(Exception):
    """A money invariant does not hold: a bug, never a client mistake. Not a LedgerError on purpose."""

"""Request bodies of the HTTP API: strict pydantic models, unknown fields refused.

Money never travels as a float: prices and quantities are decimal strings (converted exactly against the
instrument's tick and lot by the write side, off-tick input refused), amounts are integers in the asset's
minor units, bounded to int64. Every command carries a client-chosen `command_id`: sending the same id
and body again answers with the first result and stores nothing new.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

INT64_MAX = (1 << 63) - 1


def clean_text(value: str) -> str:
    """Free text must be storable as-is: no NUL or other C0 controls but tab and newlines, no lone
    surrogates (JSON can escape them, UTF-8 and PostgreSQL cannot hold them)."""
    for char in value:
        code = ord(char)
        if (code < 0x20 and char not in "\t\n\r") or 0xD800 <= code <= 0xDFFF or code == 0x7F:
            raise ValueError(f"text holds the character U+{code:04X}, which is not allowed")
    return value


CommandId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
AccountId = Annotated[int, Field(ge=1, le=INT64_MAX)]
Symbol = Annotated[str, StringConstraints(min_length=3, max_length=33, pattern=r"^[A-Z0-9]{1,16}-[A-Z0-9]{1,16}$")]
AssetCode = Annotated[str, StringConstraints(min_length=1, max_length=16, pattern=r"^[A-Z0-9]{1,16}$")]
# A positive decimal: digits, an optional fraction; no sign, exponent, spaces or NaN.
DecimalText = Annotated[str, StringConstraints(min_length=1, max_length=40,
                                               pattern=r"^(0|[1-9][0-9]{0,29})(\.[0-9]{1,18})?$")]
PositiveInt64 = Annotated[int, Field(ge=1, le=INT64_MAX)]
NonNegativeInt64 = Annotated[int, Field(ge=0, le=INT64_MAX)]
FeePpm = Annotated[int, Field(ge=0, le=999_999)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(clean_text)]
Text = Annotated[str, StringConstraints(max_length=200), AfterValidator(clean_text)]


class Body(BaseModel):
    """Base of every request body: strict types (no "1" for 1, no 1.0 for 1), no unknown fields."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class PlaceOrderBody(Body):
    command_id: CommandId
    account_id: AccountId
    symbol: Symbol
    side: Literal["buy", "sell"]
    type: Literal["limit", "market", "stop_limit", "stop_market"] = "limit"
    qty: DecimalText = Field(description="base units as a decimal string, e.g. \"0.5\"")
    price: DecimalText | None = Field(default=None, description="limit and stop_limit: quote per base unit")
    trigger_price: DecimalText | None = Field(default=None, description="stop types: the trigger")
    tif: Literal["gtc", "ioc", "fok", "gtd"] = "gtc"
    expire_at_ns: PositiveInt64 | None = Field(default=None, description="gtd only: UTC nanoseconds")
    post_only: bool = False
    display_qty: DecimalText | None = Field(default=None, description="iceberg: the visible part")
    stp: Literal["none", "cancel_taker", "cancel_maker", "cancel_both", "decrement"] = "none"
    protection_price: DecimalText | None = Field(default=None, description="market types: the worst price")


class AmendOrderBody(Body):
    command_id: CommandId
    account_id: AccountId
    price: DecimalText | None = None
    qty: DecimalText | None = Field(default=None, description="the new total open qty")


class CancelOrderBody(Body):
    command_id: CommandId
    account_id: AccountId


class TransferBody(Body):
    """A deposit or a withdrawal of `amount_minor` minor units of `asset` (treasury)."""

    command_id: CommandId
    account_id: AccountId
    asset: AssetCode
    amount_minor: PositiveInt64


class RegisterAssetBody(Body):
    command_id: CommandId
    code: AssetCode
    scale: Annotated[int, Field(ge=0, le=18)]


class ListInstrumentBody(Body):
    command_id: CommandId
    symbol: Symbol
    base: AssetCode
    quote: AssetCode
    tick_size: PositiveInt64
    lot_size: PositiveInt64
    min_qty_lots: PositiveInt64
    max_qty_lots: PositiveInt64
    min_price_ticks: PositiveInt64
    max_price_ticks: PositiveInt64
    maker_fee_ppm: FeePpm
    taker_fee_ppm: FeePpm


class ChangeInstrumentBody(Body):
    """The fields to change; those left out keep their value."""

    command_id: CommandId
    min_qty_lots: PositiveInt64 | None = None
    max_qty_lots: PositiveInt64 | None = None
    min_price_ticks: PositiveInt64 | None = None
    max_price_ticks: PositiveInt64 | None = None
    maker_fee_ppm: FeePpm | None = None
    taker_fee_ppm: FeePpm | None = None

    def changes(self) -> dict[str, int]:
        return {name: value for name, value in self.model_dump(exclude={"command_id"}).items() if value is not None}


class ReasonBody(Body):
    command_id: CommandId
    reason: Reason


class CommandIdBody(Body):
    command_id: CommandId


class OpenAccountBody(Body):
    command_id: CommandId
    account_id: AccountId
    profile: Annotated[dict[Annotated[str, StringConstraints(min_length=1, max_length=64),
                                      AfterValidator(clean_text)], Text],
                       Field(max_length=32)] = Field(default_factory=dict)


class VerifyKycBody(Body):
    command_id: CommandId
    reviewer: Reason

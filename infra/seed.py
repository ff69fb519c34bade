"""Seed files: reference data, accounts and a scripted session, as idempotent ledger commands."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from commands import ledger_commands as c

DEMO_SEED = "demo.toml"


class SeedError(ValueError):
    pass


@dataclass(frozen=True)
class SessionStep:
    command: c.Command
    expect: str  # "" when the step must succeed, else the error code it must be refused with


def load_seed(path: str = "") -> dict[str, Any]:
    if path:
        with Path(path).open("rb") as handle:
            return tomllib.load(handle)
    text = resources.files("infra").joinpath("seeds", DEMO_SEED).read_text()
    return tomllib.loads(text)


def reference_commands(seed: dict[str, Any]) -> Iterator[c.Command]:
    """Commands that register the seed's assets, instruments and accounts (ids prefixed `seed:`)."""
    try:
        for asset in seed.get("assets", []):
            yield c.RegisterAsset(f"seed:asset:{asset['code']}", asset["code"], asset["scale"])
        for spec in seed.get("instruments", []):
            yield c.ListInstrument(command_id=f"seed:instrument:{spec['symbol']}", **spec)
        for account in seed.get("accounts", []):
            account_id = account["account_id"]
            yield c.OpenAccount(f"seed:account:{account_id}", account_id, account.get("profile", {}),
                                account.get("preferences", {}))
            if account.get("kyc") == "verified":
                yield c.VerifyKyc(f"seed:kyc:{account_id}", account_id, reviewer="seed")
    except (KeyError, TypeError) as error:
        raise SeedError(f"seed file is missing or misnames a field: {error}") from None


_STEPS: dict[str, type[c.Command]] = {
    "deposit": c.Deposit, "withdraw": c.Withdraw, "hold": c.PlaceHold, "release": c.ReleaseHold,
    "settle": c.Settle,
}


def session_steps(seed: dict[str, Any]) -> Iterator[SessionStep]:
    for number, raw in enumerate(seed.get("session", []), start=1):
        step = dict(raw)
        kind = step.pop("step", None)
        expect = step.pop("expect", "")
        if kind not in _STEPS:
            raise SeedError(f"session step {number}: unknown step {kind!r}; known: {sorted(_STEPS)}")
        try:
            command = _STEPS[kind](command_id=f"session:{number}:{kind}", **step)
        except TypeError as error:
            raise SeedError(f"session step {number} ({kind}): {error}") from None
        yield SessionStep(command, expect)

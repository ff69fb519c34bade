"""The API in a process of its own, reaching the venue's sequencer over the command link.

Real HTTP to a spawned API process, a real Unix-socket link to this process's sequencer, real PostgreSQL:
a placement comes back with its log position, a resend with the same command id returns the first
result, the book and readiness come over the link, and a venue that went away is a 503 with a code.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.api_process import ApiProcess, ApiProcessSpec
from infra.api_server import ApiSettings, SequencerGateway
from infra.bootstrap import postgres_env
from infra.command_link import CommandLinkServer, link_directory
from infra.embedded_postgres import PgConnectionInfo
from queries.app import ApiConfig
from tests.api.conftest import AUDIENCE, ISSUER, KID, ApiVenue, running_api_venue
from tests.ledger_fixtures import ALICE

pytestmark = pytest.mark.integration


@pytest.fixture
def remote(make_pg_ledger: object, pg: PgConnectionInfo, tmp_path: Path) -> Iterator[tuple[ApiVenue, ApiProcess,
                                                                                               CommandLinkServer]]:
    ledger = make_pg_ledger()  # type: ignore[operator]
    with running_api_venue(ledger, tmp_path) as venue:
        public_key = tmp_path / "jwt.pem"
        public_key.write_bytes(venue.public_pem)
        link = CommandLinkServer(SequencerGateway(venue.venue, venue.sequencer),
                                 link_directory() / "commands.sock").start()
        settings = ApiSettings(port=0, issuer=ISSUER, audience=AUDIENCE, jwt_public_key=str(public_key),
                               jwt_algorithm="EdDSA", jwt_kid=KID)
        api = ApiProcess(ApiProcessSpec(postgres_env(pg), link.path, settings, tmp_path,
                                        config=ApiConfig(rate_per_s=100_000, rate_burst=100_000)))
        try:
            yield venue, api.start(), link
        finally:
            api.stop()
            link.stop()
            link.path.parent.rmdir()


def test_orders_placed_through_the_api_process(remote: tuple[ApiVenue, ApiProcess, CommandLinkServer]) -> None:
    venue, api, _ = remote
    assert api.pid is not None and api.url
    with httpx.Client(base_url=api.url, headers=venue.headers("treasury"), timeout=10.0) as treasury:
        deposit = treasury.post("/v1/deposits", json={"command_id": "remote-deposit", "account_id": ALICE,
                                                      "asset": "USDT", "amount_minor": 1_000_000_000_000})
        assert deposit.status_code == 200, deposit.text
    with httpx.Client(base_url=api.url, headers=venue.headers("trader", [ALICE]), timeout=10.0) as client:
        body = {"command_id": "remote-1", "account_id": ALICE, "symbol": "BTC-USDT", "side": "buy",
                "type": "limit", "qty": "0.01", "price": "60000", "tif": "gtc"}
        first = client.post("/v1/orders", json=body)
        assert first.status_code == 200, first.text
        placed = first.json()
        assert placed["log_position"] > 0 and placed["log_position"] <= venue.head()
        again = client.post("/v1/orders", json=body)
        assert again.status_code == 200 and again.json()["duplicate"] is True
        assert again.json()["log_position"] == placed["log_position"]
        assert again.json()["result"] == placed["result"]

        book = client.get("/v1/markets/BTC-USDT/book", params={"depth": 5})
        assert book.status_code == 200
        # BTC-USDT in the fixtures: tick 10,000 minor USDT (scale 6), lot 10,000 sats: 60000 USDT, 0.01 BTC
        assert book.json()["bids"] == [{"price_ticks": 6_000_000, "qty_lots": 100, "orders": 1}]
        assert client.get("/v1/markets/NOPE-USDT/book").json()["error"]["code"] == "unknown_instrument"

        assert client.get("/readyz").status_code == 200

        refused = client.post("/v1/orders", json={**body, "command_id": "remote-2", "price": "60000.001"})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "off_tick_price"


def test_a_venue_that_went_away_is_a_503(remote: tuple[ApiVenue, ApiProcess, CommandLinkServer]) -> None:
    venue, api, link = remote
    link.stop()
    with httpx.Client(base_url=api.url, headers=venue.headers("trader", [ALICE]), timeout=10.0) as client:
        answer = client.post("/v1/orders", json={
            "command_id": "remote-gone", "account_id": ALICE, "symbol": "BTC-USDT", "side": "buy",
            "type": "limit", "qty": "0.01", "price": "60000", "tif": "gtc"})
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "write_side_unavailable"
        assert client.get("/readyz").status_code == 503

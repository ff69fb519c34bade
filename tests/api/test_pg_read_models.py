"""The PostgreSQL read models (projections/, kept up to date by infra/projector_runner.py) behind the API:
the same questions answer the same as the API node's in-memory fold of the log (one contract, two
adapters), and `min_position` waits for the projections."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from infra.api_server import ApiServer, LedgerEventFeed, SequencerGateway
from infra.projector_runner import LogReader, PgRunner
from projections.catalog import pg_projectors
from projections.pg_tracking import CHANNEL
from queries.app import ApiConfig, create_app
from queries.pg_read_models import NOTIFY_CHANNEL, PgReadModels
from tests.api.conftest import ApiVenue, wait_for
from tests.ledger_fixtures import ALICE, BOB

pytestmark = pytest.mark.integration
SYMBOL = "BTC-USDT"


@pytest.fixture
def pg_api(api_venue: ApiVenue, pg: Any) -> Iterator[tuple[ApiVenue, str, PgReadModels]]:
    """A second API on the same venue, answering queries from the PostgreSQL read models."""
    conninfo = pg.conninfo()
    reader = LogReader(api_venue.ledger, conninfo)
    runner = PgRunner(reader, conninfo, pg_projectors())
    runner.setup()
    stop = threading.Event()
    thread = threading.Thread(target=runner.follow, args=(stop, 0.02), daemon=True)
    thread.start()
    read_models = PgReadModels(conninfo)
    app = create_app(ApiConfig(rate_per_s=100_000, rate_burst=100_000, min_position_wait_s=10),
                     SequencerGateway(api_venue.venue, api_venue.sequencer), LedgerEventFeed(api_venue.ledger),
                     api_venue.app.state.services.authenticator, read_models)
    try:
        with ApiServer(app) as server:
            yield api_venue, server.url, read_models
    finally:
        stop.set()
        thread.join(10)
        runner.close()
        reader.close()


def _without_positions(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_positions(v) for k, v in value.items() if k not in ("position", "next_cursor")}
    if isinstance(value, list):
        return [_without_positions(v) for v in value]
    return value


def test_both_read_models_answer_alike(pg_api: tuple[ApiVenue, str, PgReadModels]) -> None:
    venue, pg_url, _ = pg_api
    with venue.client("treasury") as treasury:
        for command_id, account, asset in (("d1", BOB, "USDT"), ("d2", ALICE, "BTC")):
            assert treasury.post("/v1/deposits", json={"command_id": command_id, "account_id": account,
                                                       "asset": asset, "amount_minor": 10**12}).status_code == 200
    with venue.client("trader", [ALICE]) as alice, venue.client("trader", [BOB]) as bob:
        assert alice.post("/v1/orders", json={"command_id": "a1", "account_id": ALICE, "symbol": SYMBOL,
                                              "side": "sell", "qty": "0.5", "price": "60000"}).status_code == 200
        last = bob.post("/v1/orders", json={"command_id": "b1", "account_id": BOB, "symbol": SYMBOL, "side": "buy",
                                            "qty": "0.2", "price": "60000"})
        assert last.status_code == 200, last.text
    position = last.json()["log_position"]
    headers = venue.headers("auditor")
    paths = [f"/v1/accounts/{BOB}/balances", f"/v1/accounts/{ALICE}/balances", f"/v1/accounts/{BOB}/fills",
             f"/v1/accounts/{ALICE}/orders", f"/v1/accounts/{BOB}/positions", f"/v1/markets/{SYMBOL}/trades",
             f"/v1/markets/{SYMBOL}/candles", "/v1/instruments", f"/v1/instruments/{SYMBOL}",
             f"/v1/accounts/{BOB}/journal", f"/v1/accounts/{ALICE}/journal?asset=BTC", f"/v1/accounts/{BOB}/orders",
             f"/v1/orders?account_id={ALICE}"]
    with httpx.Client(base_url=venue.url, headers=headers) as memory, \
            httpx.Client(base_url=pg_url, headers=headers) as postgres:
        for path in paths:
            from_memory = memory.get(path, params={"min_position": position})
            from_pg = postgres.get(path, params={"min_position": position})
            assert from_memory.status_code == from_pg.status_code == 200, (path, from_pg.text)
            assert _without_positions(from_pg.json()) == _without_positions(from_memory.json()), path
        detail = postgres.get(f"/v1/orders/{SYMBOL}/1", params={"min_position": position}).json()
        assert detail["order"]["status"] == "partially_filled" and len(detail["history"]) == 2


def test_answers_are_reused_until_a_projection_advances(pg_api: tuple[ApiVenue, str, PgReadModels]) -> None:
    venue, pg_url, read_models = pg_api
    assert NOTIFY_CHANNEL == CHANNEL  # the API listens where the projectors announce
    read_models.answers.max_age_s = 3_600.0  # only an advance may drop an answer here

    def deposit(command_id: str) -> int:
        with venue.client("treasury") as treasury:
            answer = treasury.post("/v1/deposits", json={"command_id": command_id, "account_id": BOB,
                                                         "asset": "USDT", "amount_minor": 1_000})
        assert answer.status_code == 200, answer.text
        return int(answer.json()["log_position"])

    def usdt(client: httpx.Client, **params: int) -> tuple[int, int]:
        answer = client.get(f"/v1/accounts/{BOB}/balances", params=params).json()
        [balance] = [b for b in answer["balances"] if b["asset"] == "USDT"]
        return int(balance["total_minor"]), int(answer["position"])

    first = deposit("cache-1")
    with httpx.Client(base_url=pg_url, headers=venue.headers("auditor")) as client:
        wait_for(lambda: read_models.answers.active)
        assert usdt(client, min_position=first)[0] == 1_000
        hits = read_models.answers.hits
        assert usdt(client) == usdt(client)  # nothing advanced: the same answer, from the cache
        assert read_models.answers.hits >= hits + 2

        second = deposit("cache-2")  # asked for at its position: never the older cached answer
        total, position = usdt(client, min_position=second)
        assert total == 2_000 and position >= second

        deposit("cache-3")  # asked for without a position: the advance's NOTIFY drops the cached answer
        wait_for(lambda: usdt(client)[0] == 3_000)

        read_models.answers.listening(False)  # no listener, nothing kept: every answer is read
        hits = read_models.answers.hits
        usdt(client)
        usdt(client)
        assert read_models.answers.hits == hits

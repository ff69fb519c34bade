"""The fast write path (binary COPY recorder, orjson mapper) keeps every guarantee of the stock one.

- eventsourcing's own application-recorder contract suite (and its non-interleaving test) runs against
  FastHashChainedRecorder on the session's PostgreSQL;
- the hash chain it writes verifies with the unchanged verify_chain, also when its inserts interleave
  with the stock HashChainedRecorder's on the same table;
- a conflicting save raises IntegrityError and stores nothing (no event, no link, no id);
- FastMapper writes byte for byte what the stock Mapper writes, and each reads the other's rows;
- a Ledger on the fast path and a Ledger on the stock path see the same state.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections import namedtuple
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum, IntEnum, StrEnum
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.application import Application
from eventsourcing.compressor import ZlibCompressor
from eventsourcing.domain import Aggregate, Snapshot
from eventsourcing.persistence import (
    Cipher,
    DataError,
    IntegrityError,
    JSONTranscoder,
    Mapper,
    ProgrammingError,
    StoredEvent,
    Transcoder,
    Transcoding,
    TranscodingNotRegisteredError,
)
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.utils import Environment
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands import ledger_commands as c
from commands.ledger import Ledger
from commands.transcodings import register_value_transcodings
from domain.clock import causation
from domain.ids import wallet_id
from domain.order import Fill, Order, OrderTerms
from domain.position import PositionFill
from domain.wallet import Entry, Wallet
from infra.chained_recorder import GENESIS, HashChainedRecorder, event_hash, verify_chain
from infra.embedded_postgres import PgConnectionInfo
from infra.fast_mapper import FastMapper
from infra.fast_recorder import FastHashChainedRecorder
from tests.conftest import FakeClock
from tests.ledger_fixtures import ALICE, BOB, CAROL, seed_reference_data

pytestmark = pytest.mark.integration

STOCK_ENV = {
    "APPLICATION_RECORDER_TOPIC": "infra.chained_recorder:HashChainedRecorder",
    "MAPPER_TOPIC": "eventsourcing.persistence:Mapper",
}
FAST_ENV = {
    "APPLICATION_RECORDER_TOPIC": "infra.fast_recorder:FastHashChainedRecorder",
    "MAPPER_TOPIC": "infra.fast_mapper:FastMapper",
}


def datastore_for(pg: PgConnectionInfo) -> PostgresDatastore:
    # Room for the contract suite's 10 writer and 2 reader threads.
    return PostgresDatastore(pg.dbname, pg.host, pg.port, pg.user, pg.password, pool_size=4, max_overflow=12,
                             lock_timeout=30)


def fast_recorder(datastore: PostgresDatastore, table: str = "stored_events") -> FastHashChainedRecorder:
    recorder = FastHashChainedRecorder(datastore, events_table_name=table)
    recorder.create_table()
    return recorder


def stock_recorder(datastore: PostgresDatastore, table: str = "stored_events") -> HashChainedRecorder:
    recorder = HashChainedRecorder(datastore, events_table_name=table)
    recorder.create_table()
    return recorder


def events_of(originator_id: UUID, versions: range, topic: str = "topic") -> list[StoredEvent]:
    return [StoredEvent(originator_id, version, topic, f'{{"v":{version}}}'.encode()) for version in versions]


def count(pg: PgConnectionInfo, table: str) -> int:
    with psycopg.connect(pg.conninfo()) as connection:
        row = connection.execute(f"SELECT count(*) FROM {table}").fetchone()  # test-owned table names
    assert row is not None
    return int(row[0])


# ---- eventsourcing's contract suites, on the session's PostgreSQL -------------------------------------
try:
    from eventsourcing.tests import persistence as contract
except ModuleNotFoundError:  # the suite imports eventsourcing's AES cipher: eventsourcing[crypto]
    contract = None  # type: ignore[assignment]


class _SessionPostgres:
    datastore: PostgresDatastore

    @pytest.fixture(autouse=True)
    def _fresh_database(self, pg: PgConnectionInfo) -> Iterator[None]:
        self.datastore = datastore_for(pg)
        yield
        self.datastore.close()

    def create_recorder(self) -> FastHashChainedRecorder:
        return fast_recorder(self.datastore)


if contract is not None:
    class TestFastRecorderContract(_SessionPostgres,
                                   contract.ApplicationRecorderTestCase[FastHashChainedRecorder]):
        def test_insert_subscribe(self) -> None:
            self.optional_test_insert_subscribe()

        def test_chain_verifies_after_concurrent_writers(self) -> None:
            self.test_concurrent_no_conflicts()
            report = verify_chain(self.create_recorder())
            assert report.intact
            assert report.events_checked == 100 * 100

    class TestFastRecorderNonInterleaving(_SessionPostgres, contract.NonInterleavingNotificationIDsBaseCase):
        pass
else:
    def test_eventsourcing_contract_suite() -> None:
        pytest.skip("eventsourcing's test suite needs eventsourcing[crypto] (pycryptodome)")


# ---- the chain, ids and conflicts -------------------------------------------------------------------
def test_fast_inserts_chain_every_event_as_verify_chain_expects(pg: PgConnectionInfo) -> None:
    datastore = datastore_for(pg)
    recorder = fast_recorder(datastore)
    first, second = uuid4(), uuid4()
    batches = [events_of(first, range(1, 2)), events_of(second, range(1, 3001)), events_of(first, range(2, 102))]
    ids = [recorder.insert_events(batch) for batch in batches]
    assert ids == [[1], list(range(2, 3002)), list(range(3002, 3102))]
    report = verify_chain(recorder)
    assert report.intact and report.events_checked == 3101
    assert count(pg, "stored_events_chain") == 3101
    datastore.close()


def test_returned_ids_follow_the_given_order_and_notifications_match(pg: PgConnectionInfo) -> None:
    datastore = datastore_for(pg)
    recorder = fast_recorder(datastore)
    recorder.insert_events(events_of(uuid4(), range(1, 4)))
    a, b, c_ = uuid4(), uuid4(), uuid4()
    batch = [StoredEvent(originator, version, f"t{index}", bytes([index]))
             for index, (originator, version) in enumerate([(b, 1), (a, 1), (c_, 5), (a, 2), (b, 2)])]
    ids = recorder.insert_events(batch)
    assert ids == [4, 5, 6, 7, 8]
    notifications = recorder.select_notifications(4, 10)
    assert [(n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in notifications] == [
        (i, e.originator_id, e.originator_version, e.topic, e.state) for i, e in zip(ids, batch, strict=True)]
    assert recorder.max_notification_id() == 8
    assert recorder.select_events(a) == [batch[1], batch[3]]
    datastore.close()


def test_the_chain_link_is_exactly_event_hash() -> None:
    """The one-concatenation digest in the COPY path equals chained_recorder.event_hash, uuid and text."""
    for as_uuids in (True, False):
        recorder = object.__new__(FastHashChainedRecorder)
        recorder.originator_ids_are_uuids = as_uuids
        events = [StoredEvent(uuid4() if as_uuids else f"agg-{n}", n * 7 - 3, f"topic-{n % 3}-é", bytes(range(n)))
                  for n in range(1, 40)]
        links = bytearray()
        b"".join(recorder._event_chunks(events, 1_000, GENESIS, links))
        previous, expected = GENESIS, bytearray()
        for notification_id, event in enumerate(events, start=1_000):
            previous = event_hash(previous, notification_id, event.originator_id, event.originator_version,
                                  event.topic, event.state)
            expected += b"\x00\x02" + (8).to_bytes(4, "big") + notification_id.to_bytes(8, "big")
            expected += (32).to_bytes(4, "big") + previous
        assert links == expected


def test_a_duplicate_raises_integrity_error_and_stores_nothing(pg: PgConnectionInfo) -> None:
    datastore = datastore_for(pg)
    recorder = fast_recorder(datastore)
    existing = uuid4()
    assert recorder.insert_events(events_of(existing, range(1, 11))) == list(range(1, 11))
    fresh = uuid4()
    with pytest.raises(IntegrityError):  # 500 new events and one that exists
        recorder.insert_events([*events_of(fresh, range(1, 501)), *events_of(existing, range(10, 11))])
    with pytest.raises(IntegrityError):  # a duplicate inside the batch itself
        recorder.insert_events([*events_of(fresh, range(1, 3)), *events_of(fresh, range(2, 3))])
    assert recorder.max_notification_id() == 10
    assert recorder.select_events(fresh) == []
    assert count(pg, "stored_events") == count(pg, "stored_events_chain") == 10
    # Ids are assigned after the lock and the sequence advanced only once both COPYs succeeded, so a
    # refused save leaves no gap (the stock path's nextval would have).
    assert recorder.insert_events(events_of(fresh, range(1, 3))) == [11, 12]
    assert verify_chain(recorder).intact
    datastore.close()


def test_stock_and_fast_inserts_interleave_on_one_table(pg: PgConnectionInfo) -> None:
    datastore = datastore_for(pg)
    fast, stock = fast_recorder(datastore), stock_recorder(datastore)
    ids: list[int] = []
    for round_number in range(6):
        writer = fast if round_number % 2 == 0 else stock
        returned = writer.insert_events(events_of(uuid4(), range(1, 1 + 50 * (round_number + 1))))
        assert returned is not None
        ids.extend(returned)
    assert ids == list(range(1, len(ids) + 1))  # the stock sequence continues after the fast ids, and back

    # A stock save that fails after nextval leaves a gap in the sequence; the fast path skips it too
    # rather than reusing ids the sequence already handed out.
    taken = uuid4()
    stock.insert_events(events_of(taken, range(1, 2)))
    with pytest.raises(IntegrityError):
        stock.insert_events([*events_of(uuid4(), range(1, 4)), *events_of(taken, range(1, 2))])
    after_gap = fast.insert_events(events_of(uuid4(), range(1, 3)))
    assert after_gap is not None and after_gap[0] > len(ids) + 1 + 1
    assert stock.insert_events(events_of(uuid4(), range(1, 2))) == [after_gap[-1] + 1]

    report = verify_chain(fast)
    assert report.intact
    assert report.events_checked == count(pg, "stored_events") == count(pg, "stored_events_chain")
    datastore.close()


def test_concurrent_fast_and_stock_writers_keep_one_chain(pg: PgConnectionInfo) -> None:

    datastore = datastore_for(pg)
    recorders: list[HashChainedRecorder] = [fast_recorder(datastore), stock_recorder(datastore)]
    errors: list[BaseException] = []

    def write(recorder: HashChainedRecorder) -> None:
        try:
            for _ in range(15):
                recorder.insert_events(events_of(uuid4(), range(1, 40)))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(recorder,)) for recorder in recorders * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = verify_chain(recorders[0])
    assert report.intact and report.events_checked == 4 * 15 * 39
    notifications = recorders[0].select_notifications(1, 10_000)
    assert [n.id for n in notifications] == list(range(1, 4 * 15 * 39 + 1))
    datastore.close()


def test_text_originator_ids(pg: PgConnectionInfo) -> None:
    datastore = PostgresDatastore(pg.dbname, pg.host, pg.port, pg.user, pg.password, originator_id_type="text")
    recorder = fast_recorder(datastore, "text_events")
    ids = recorder.insert_events([StoredEvent("order-é-1", version, "t", b"{}") for version in range(1, 4)])
    assert ids == [1, 2, 3]
    assert [e.originator_id for e in recorder.select_events("order-é-1")] == ["order-é-1"] * 3
    assert verify_chain(recorder).intact
    datastore.close()


def test_unstorable_events_raise_data_error_and_store_nothing(pg: PgConnectionInfo) -> None:
    datastore = datastore_for(pg)
    recorder = fast_recorder(datastore)
    for bad in (StoredEvent(uuid4(), 2**63, "t", b"{}"), StoredEvent("not-a-uuid", 1, "t", b"{}")):
        with pytest.raises(DataError):
            recorder.insert_events([*events_of(uuid4(), range(1, 600)), bad])
    assert recorder.max_notification_id() is None
    assert recorder.insert_events([StoredEvent(str(UUID(int=9)), 1, "t", b"{}")]) == [1]  # a str uuid is parsed
    assert recorder.select_events(UUID(int=9))[0].originator_id == UUID(int=9)
    assert verify_chain(recorder).intact
    datastore.close()


def test_db_functions_are_refused(pg: PgConnectionInfo) -> None:
    datastore = PostgresDatastore(pg.dbname, pg.host, pg.port, pg.user, pg.password, enable_db_functions=True)
    with pytest.raises(ProgrammingError, match="ENABLE_DB_FUNCTIONS"):
        FastHashChainedRecorder(datastore)
    datastore.close()


def test_an_empty_insert_writes_nothing(pg: PgConnectionInfo) -> None:
    datastore = datastore_for(pg)
    recorder = fast_recorder(datastore)
    assert recorder.insert_events([]) is None
    assert recorder.max_notification_id() is None
    datastore.close()


# ---- the mapper ---------------------------------------------------------------------------------------
class Colour(Enum):
    RED = 1


class Letter(StrEnum):
    A = "a"


class Number(IntEnum):
    TWO = 2


class Mydict(dict[str, Any]):
    pass


class MyList(list[Any]):
    pass


class MyStr(str):
    __slots__ = ()


class MyInt(int):
    pass


class CustomType1:
    def __init__(self, value: UUID) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    __hash__ = None  # type: ignore[assignment]


class CustomType1AsUUID(Transcoding):
    type = CustomType1
    name = "custom_type1"

    def encode(self, obj: CustomType1) -> UUID:
        return obj.value  # a UUID inside a transcoding's output: native to orjson, not to the stock format

    def decode(self, data: UUID) -> CustomType1:
        return CustomType1(data)


class MydictAsDict(Transcoding):
    type = Mydict
    name = "mydict"

    def encode(self, obj: Mydict) -> dict[str, Any]:
        return dict(obj)

    def decode(self, data: dict[str, Any]) -> Mydict:
        return Mydict(data)


class ColourAsName(Transcoding):
    type = Colour
    name = "colour"

    def encode(self, obj: Colour) -> str:
        return obj.name

    def decode(self, data: str) -> Colour:
        return Colour[data]


Pair = namedtuple("Pair", "left right")


@dataclass(frozen=True)
class Nested:
    fill: Fill


def ledger_transcoder(*extra: Transcoding) -> JSONTranscoder:
    transcoder = JSONTranscoder()
    Application.register_transcodings(Application.__new__(Application), transcoder)
    register_value_transcodings(transcoder)
    for transcoding in extra:
        transcoder.register(transcoding)
    return transcoder


MOMENT = datetime(2026, 1, 1, 12, 30, 45, 123456, tzinfo=UTC)
AWKWARD_VALUES: list[Any] = [
    {}, [], (), "", "a\"b\\c\n\t\x01\x1f\x7f\u2028é😀", 0, -1, 2**63 - 1, -(2**63), 2**64 - 1, 2**64, -(2**63) - 1,
    10**30, True, False, None, 1.5, 0.1, 1e16, -0.0, math.inf, math.nan, MOMENT,
    MOMENT.astimezone(timezone(timedelta(hours=5, minutes=30))), datetime(2026, 1, 1), uuid4(), Decimal("0.010"),
    Fill("T1", 100, 10, 1, "taker"), (Fill("T1", 100, 10, 1, "taker"), Fill("T2", 101, 3, 0, "maker")),
    Entry("p1", "USDT", -5, 7, "trade", "h1"), PositionFill("T1", "buy", 100, 10, 1_000, 1),
    Fill("T1", 2**70, 10, 1, "taker"), Fill("T1", UUID(int=5), 10, 1, "taker"),  # type: ignore[arg-type]
    Nested(Fill("T", 1, 1, 1, "x")),
    {"a": {"b": [1, (2, 3), {"c": MOMENT}]}}, {1: "int key"}, {"_type_": 1, "other": 2}, {"_data_": 1, "x": 2},
    {"_type_": "x"}, Letter.A, Number.TWO, {"k": Letter.A}, Mydict({"a": 1}), MyList([1, 2]), MyStr("s"), MyInt(3),
    Pair(1, 2), CustomType1(UUID(int=7)), Colour.RED, {"colour": Colour.RED},
    {"terms": {"symbol": "BTC-USDT", "order_id": 1, "post_only": False, "price_ticks": 0}},
]


@pytest.mark.parametrize("value", AWKWARD_VALUES, ids=[f"{i}-{type(v).__name__}" for i, v in enumerate(AWKWARD_VALUES)])
def test_fast_encoding_is_byte_identical_to_the_stock_transcoder(value: Any) -> None:
    transcoder = ledger_transcoder(CustomType1AsUUID(), MydictAsDict(), ColourAsName())
    fast = FastMapper(transcoder)
    for state in (value, {"state": value}, [value, value]):
        try:
            expected = transcoder.encode(state)
        except (TypeError, ValueError) as stock_error:
            with pytest.raises(type(stock_error)):
                fast.encode(state)
            continue
        assert fast.encode(state) == expected
        assert _same(fast.decode(expected), transcoder.decode(expected))


def test_unregistered_types_fail_as_with_the_stock_transcoder() -> None:
    transcoder = ledger_transcoder()
    fast = FastMapper(transcoder)
    for value in (Colour.RED, object(), Nested(Fill("T", 1, 1, 1, "x")), b"bytes"):
        with pytest.raises(TranscodingNotRegisteredError):
            transcoder.encode({"v": value})
        with pytest.raises(TranscodingNotRegisteredError):
            fast.encode({"v": value})
    with pytest.raises(TranscodingNotRegisteredError):
        fast.decode(b'{"v":{"_type_":"nobody","_data_":1}}')


def _same(left: Any, right: Any) -> bool:
    """Equality that also holds for NaN and checks types (1 == 1.0 == True would hide a difference)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list | tuple):
        return len(left) == len(right) and all(_same(a, b) for a, b in zip(left, right, strict=True))
    return bool(left == right)


json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.text(max_size=8),
    st.floats(allow_nan=True), st.datetimes(timezones=st.just(UTC)), st.uuids(), st.decimals(allow_nan=False),
    st.builds(Fill, st.text(max_size=4), st.integers(), st.integers(), st.integers(), st.text(max_size=4)),
)
json_values = st.recursive(json_leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner), st.dictionaries(st.text(max_size=4), inner, max_size=4)),
    max_leaves=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state=st.dictionaries(st.text(max_size=6), json_values, max_size=6))
def test_fast_and_stock_encodings_agree_on_generated_states(state: dict[str, Any]) -> None:
    transcoder = ledger_transcoder()
    fast = FastMapper(transcoder)
    expected = transcoder.encode(state)
    assert fast.encode(state) == expected
    assert _same(fast.decode(expected), transcoder.decode(expected))


def _order_and_wallet_events() -> list[Any]:
    with causation(1_767_225_600_123_456_789, "cmd-1"):
        order = Order.place(OrderTerms("BTC-USDT", 1, ALICE, "buy", "limit", 10, 100, post_only=True))
        order.accept()
        order.record_fills((Fill("T1", 100, 4, 1, "taker"), Fill("T2", 100, 6, 2, "maker")))
        wallet = Wallet.open(ALICE)
        wallet.post((Entry("p1", "USDT", 1_000, -1, "deposit"), Entry("p2", "BTC", 5, BOB, "trade")))
        snapshot = Snapshot.take(wallet)  # aggregate state: dicts, lists, datetimes
    return [*order.collect_events(), *wallet.collect_events(), snapshot]


class ReversingCipher(Cipher):
    """A stand-in cipher (no crypto library is installed): enough to show the hook runs, in order."""

    def __init__(self, environment: Environment) -> None:
        self.key = environment.get("TEST_KEY", "k").encode()

    def encrypt(self, plaintext: bytes) -> bytes:
        return self.key + plaintext[::-1]

    def decrypt(self, ciphertext: bytes) -> bytes:
        assert ciphertext.startswith(self.key)
        return ciphertext[len(self.key):][::-1]


@pytest.mark.parametrize("hooks", ["none", "compressor", "cipher", "both"])
def test_each_mapper_reads_what_the_other_wrote(hooks: str) -> None:
    transcoder = ledger_transcoder()
    compressor = ZlibCompressor() if hooks in ("compressor", "both") else None
    cipher = ReversingCipher(Environment()) if hooks in ("cipher", "both") else None
    stock: Mapper[UUID] = Mapper(transcoder, compressor=compressor, cipher=cipher)
    fast = FastMapper(transcoder, compressor=compressor, cipher=cipher)
    for event in _order_and_wallet_events():
        written_by_stock, written_by_fast = stock.to_stored_event(event), fast.to_stored_event(event)
        assert written_by_fast == written_by_stock
        for stored in (written_by_stock, written_by_fast):
            # Equal to each other; equal to the original but for tuples, which JSON (and so both
            # mappers) reads back as lists; and written back to the same bytes.
            assert vars(fast.to_domain_event(stored)) == vars(stock.to_domain_event(stored))
            assert fast.to_stored_event(fast.to_domain_event(stored)) == written_by_stock


def test_upcasting_runs_as_with_the_stock_mapper() -> None:
    class Thing(Aggregate):
        class Made(Aggregate.Created):
            class_version = 2
            size: int

            @staticmethod
            def upcast_v1_v2(state: dict[str, Any]) -> None:
                state["size"] = 0

    transcoder = ledger_transcoder()
    stock: Mapper[UUID] = Mapper(transcoder)
    fast = FastMapper(transcoder)
    made = Thing.Made(originator_id=uuid4(), originator_version=1, timestamp=MOMENT,  # type: ignore[call-arg]
                      originator_topic="x", size=3)
    assert fast.to_stored_event(made) == stock.to_stored_event(made)
    old = StoredEvent(made.originator_id, 1, stock.to_stored_event(made).topic,
                      b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-01-01T00:00:00+00:00"},'
                      b'"originator_topic":"x"}')
    assert vars(fast.to_domain_event(old)) == vars(stock.to_domain_event(old))
    assert fast.to_domain_event(old).size == 0  # type: ignore[attr-defined]


def test_other_transcoders_are_refused_with_a_clear_error() -> None:
    class Other(Transcoder):
        def encode(self, obj: Any) -> bytes:
            return b""

        def decode(self, data: bytes) -> Any:
            return None

    with pytest.raises(TypeError, match="needs a JSONTranscoder"):
        FastMapper(Other())


# ---- the Ledger, end to end ------------------------------------------------------------------------------
def _run_session(ledger: Ledger, prefix: str) -> None:
    ledger.execute(c.Deposit(f"{prefix}d1", ALICE, "USDT", 50_000))
    ledger.execute(c.Deposit(f"{prefix}d2", BOB, "BTC", 3_000))
    ledger.execute(c.PlaceHold(f"{prefix}h1", ALICE, "USDT", 1_200, f"{prefix}order-1"))
    ledger.execute(c.Settle(f"{prefix}s1", ALICE, BOB, "USDT", 1_000, f"{prefix}order-1"))
    ledger.execute(c.ReleaseHold(f"{prefix}r1", ALICE, f"{prefix}order-1"))
    ledger.execute(c.Withdraw(f"{prefix}w1", BOB, "USDT", 400))
    ledger.execute(c.UpdateProfile(f"{prefix}u1", CAROL, {"name": "Carol", "tags": ["vip", 2], "note": "é😀"}))
    ledger.execute(c.HaltInstrument(f"{prefix}halt", "BTC-USDT", "maintenance"))
    ledger.execute(c.ResumeInstrument(f"{prefix}resume", "BTC-USDT"))


def _state(ledger: Ledger) -> dict[UUID, dict[str, Any]]:
    ids = {UUID(str(n.originator_id)) for n in ledger.recorder.select_notifications(1, 100_000)}
    return {aggregate_id: dict(vars(ledger.repository.get(aggregate_id))) for aggregate_id in ids}


def chained(ledger: Ledger) -> HashChainedRecorder:
    recorder = ledger.recorder
    assert isinstance(recorder, HashChainedRecorder)
    return recorder


def test_a_fast_ledger_and_a_stock_ledger_share_one_store(make_pg_ledger: Callable[..., Ledger],
                                                           pg: PgConnectionInfo, clock: FakeClock) -> None:
    fast = make_pg_ledger(**FAST_ENV)
    assert isinstance(fast.recorder, FastHashChainedRecorder) and isinstance(fast.mapper, FastMapper)
    seed_reference_data(fast)
    _run_session(fast, "fast-")
    fast.take_snapshot(wallet_id(ALICE))  # a snapshot of aggregate state goes through the mapper too

    stock = make_pg_ledger(**STOCK_ENV)
    assert type(stock.recorder) is HashChainedRecorder and type(stock.mapper) is Mapper
    assert _state(stock) == _state(fast)  # the stock mapper reads what the fast one wrote
    _run_session(stock, "stock-")  # and the stock path appends after the fast path's ids
    assert _state(fast) == _state(stock)  # the fast mapper reads what the stock one wrote
    _run_session(fast, "again-")

    balance = fast.wallet(ALICE).balance("USDT")
    assert balance == stock.wallet(ALICE).balance("USDT")
    assert (balance.total, balance.held) == (3 * (50_000 - 1_000), 0)
    notifications = fast.recorder.select_notifications(1, 100_000)
    assert [n.id for n in notifications] == list(range(1, len(notifications) + 1))
    for notification in notifications:  # both mappers agree on every stored row, byte for byte
        event = fast.mapper.to_domain_event(notification)
        assert vars(stock.mapper.to_domain_event(notification)) == vars(event)
        assert stock.mapper.to_stored_event(event).state == notification.state
    report = verify_chain(chained(fast))
    assert report.intact and report.events_checked == len(notifications)


def test_a_fast_ledger_rejects_a_stale_write_and_stores_nothing(make_pg_ledger: Callable[..., Ledger],
                                                                 pg: PgConnectionInfo) -> None:
    first, second = make_pg_ledger(**FAST_ENV), make_pg_ledger(**FAST_ENV)
    seed_reference_data(first)
    first.execute(c.Deposit("d1", ALICE, "USDT", 10))
    stale = second.wallet(ALICE)
    first.execute(c.Deposit("d2", ALICE, "USDT", 10))
    before = first.recorder.max_notification_id()
    with causation(1, "stale"):
        stale.hold("h", "USDT", 5)
    with pytest.raises(IntegrityError):
        second.save(stale)
    assert first.recorder.max_notification_id() == before
    result = first.execute(c.Deposit("d3", BOB, "USDT", 10))
    ids = [n.id for n in first.recorder.select_notifications(1, 1_000)]
    assert ids == list(range(1, result.log_position + 1))  # the refused save left no gap
    assert verify_chain(chained(first)).intact


def test_order_events_round_trip_through_the_fast_path(make_pg_ledger: Callable[..., Ledger]) -> None:
    ledger = make_pg_ledger(**FAST_ENV)
    ids = itertools.count(1)
    with causation(1_767_225_600_000_000_000, "batch-1"):
        orders = []
        for number in range(300):
            order = Order.place(OrderTerms("BTC-USDT", next(ids), ALICE, "sell", "limit", 10, 100 + number))
            order.accept()
            order.record_fills((Fill(f"T{number}", 100 + number, 10, number, "maker"),))
            orders.append(order)
    recordings = ledger.save(*orders)
    assert [r.notification.id for r in recordings] == list(range(1, 901))
    for order in orders[::37]:
        loaded: Order = ledger.repository.get(order.id)
        assert vars(loaded) == vars(order)
    assert verify_chain(chained(ledger)).intact


def test_the_event_store_bench_runs_and_cleans_up(capsys: pytest.CaptureFixture[str]) -> None:
    import tempfile
    from pathlib import Path

    from bench.event_store_bench import main

    before = set(Path(tempfile.gettempdir()).glob("tradex-event-store-bench-*"))
    assert main(["--sizes", "8,40", "--runs", "1"]) == 0
    output = capsys.readouterr().out
    assert "fsync=on" in output and "synchronous_commit=on" in output
    assert len([line for line in output.splitlines() if line.strip().startswith(("8 ", "40 "))]) == 4
    assert set(Path(tempfile.gettempdir()).glob("tradex-event-store-bench-*")) == before


def test_recorders_starting_together_create_the_tables_once(pg: PgConnectionInfo) -> None:
    """Processes that start at once (projector processes, a venue and its tools) all create the tables."""

    table = f"together_{uuid4().hex[:8]}"
    starters = 6
    barrier = threading.Barrier(starters)
    errors: list[BaseException] = []
    datastores = [datastore_for(pg) for _ in range(starters)]

    def start(datastore: PostgresDatastore) -> None:
        barrier.wait()
        try:
            fast_recorder(datastore, table)
        except BaseException as error:  # reported below, with every other starter's outcome
            errors.append(error)

    threads = [threading.Thread(target=start, args=(datastore,)) for datastore in datastores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        ids = fast_recorder(datastores[0], table).insert_events(events_of(uuid4(), range(1, 3)))
        assert ids == [1, 2]
        assert count(pg, f"{table}_chain") == 2
    finally:
        for datastore in datastores:
            datastore.close()


def test_refused_small_saves_leave_the_next_ones_whole(pg: PgConnectionInfo) -> None:
    """Small saves go out in one pipeline from the head the recorder knows; a refused one (a duplicate)
    stores nothing, and the saves after it (more than psycopg's prepare threshold of them) still work."""
    datastore = datastore_for(pg)
    table = f"refused_{uuid4().hex[:8]}"
    recorder = fast_recorder(datastore, table)
    taken = uuid4()
    expected_ids = recorder.insert_events(events_of(taken, range(1, 3)))
    assert expected_ids == [1, 2]
    for _ in range(8):
        with pytest.raises(IntegrityError):
            recorder.insert_events([*events_of(uuid4(), range(1, 3)), *events_of(taken, range(2, 3))])
        ids = recorder.insert_events(events_of(uuid4(), range(1, 4)))
        assert ids is not None and ids[0] == expected_ids[-1] + 1
        expected_ids = [*expected_ids, *ids]
    assert expected_ids == list(range(1, 27))
    report = verify_chain(FastHashChainedRecorder(datastore, events_table_name=table))
    assert report.intact and report.events_checked == count(pg, table) == count(pg, f"{table}_chain") == 26
    datastore.close()

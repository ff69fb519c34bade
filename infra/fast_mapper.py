"""A drop-in Mapper that writes and reads eventsourcing's JSONTranscoder format with orjson.

Select it with `MAPPER_TOPIC=infra.fast_mapper:FastMapper`.

Stored state stays exactly what the stock `Mapper` + `JSONTranscoder` write: compact UTF-8 JSON in which
every object of a registered type is `{"_type_": name, "_data_": encoded}` (UUID, datetime, Decimal, and
the value transcodings of commands/transcodings.py). Rows written by either mapper are read by the other.

How the bytes stay identical rather than merely equivalent: orjson serialises some types natively in a
different shape than the stock transcoder (UUID as a bare string, floats in a different notation, plain
Enums by value, NaN as null), and it reads integers wider than 64 bits back as floats. So each event's
state is first scanned for anything outside the set of types both encoders treat alike; whatever is
outside it (or anything orjson refuses) is encoded by the stock transcoder, and any state whose decoded
form holds a float is re-read by the stock decoder. TradeX events hold only strings, integers,
booleans, datetimes and flat value dataclasses, so they all take the fast path.

The compressor and cipher hooks (COMPRESSOR_TOPIC, CIPHER_KEY / CIPHER_TOPIC) are applied in the same
order as the stock Mapper: encode, compress, encrypt; and decrypt, decompress, decode.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import fields, is_dataclass
from datetime import date, datetime, time
from enum import Enum
from operator import attrgetter
from typing import Any, cast
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    Cipher,
    Compressor,
    DatetimeAsISO,
    JSONTranscoder,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoder,
    Transcoding,
    TranscodingNotRegisteredError,
    find_id_convertor,
)
from eventsourcing.utils import get_topic, resolve_topic

from commands.transcodings import DataclassAsList

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_PRIMITIVES: frozenset[type] = frozenset({str, int, bool, type(None)})

# How the scan treats a value of a given exact type.
_LEAF = 0  # serialised natively, identically by both encoders
_DEFAULT = 1  # reaches orjson's `default`, which applies the registered transcoding
_DICT = 2  # recurse into the values (orjson itself refuses non-str keys, which sends us to the fallback)
_SEQUENCE = 3  # recurse into the items
_FOREIGN = 4  # anything else: the stock transcoder must encode this state


class _UseStockTranscoder(Exception):
    """Raised inside the fast path when the stock transcoder must handle this state instead."""


class FastMapper(Mapper[Any]):
    """Mapper whose encoding and decoding run in orjson, with the stock transcoder as exact fallback."""

    def __init__(self, transcoder: Transcoder, compressor: Compressor | None = None,
                 cipher: Cipher | None = None) -> None:
        if not isinstance(transcoder, JSONTranscoder):
            raise TypeError(f"FastMapper writes the JSONTranscoder format and needs a JSONTranscoder, "
                            f"got {type(transcoder).__name__}; unset TRANSCODER_TOPIC or MAPPER_TOPIC")
        super().__init__(transcoder, compressor=compressor, cipher=cipher)
        self.json = transcoder
        # Kinds are cached per exact type; registered transcodings may be added after construction
        # (Application registers them before building the mapper, but stay correct if not).
        self._kinds: dict[type, int] = dict.fromkeys(_PRIMITIVES, _LEAF)
        self._encoders: dict[type, Callable[[Any], dict[str, Any]]] = {}
        self._registered_count = -1

    # ---- encoding -------------------------------------------------------------------------------
    def to_stored_event(self, domain_event: DomainEventProtocol[Any]) -> StoredEvent:
        event_state = dict(vars(domain_event))
        originator_id = event_state.pop("originator_id")
        originator_version = event_state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            event_state["class_version"] = class_version
        stored_state = self.encode(event_state)
        if self.compressor:
            stored_state = self.compressor.compress(stored_state)
        if self.cipher:
            stored_state = self.cipher.encrypt(stored_state)
        return StoredEvent(originator_id=originator_id, originator_version=originator_version,
                           topic=get_topic(type(domain_event)), state=stored_state)

    def encode(self, obj: Any) -> bytes:
        """The bytes `JSONTranscoder.encode(obj)` returns, computed by orjson when that is exact."""
        if len(self.json.types) != self._registered_count:
            self._kinds = dict.fromkeys(_PRIMITIVES, _LEAF)
            self._encoders = {}
            self._registered_count = len(self.json.types)
        try:
            if self._scan(obj):
                # orjson returns its 1 KiB working buffer shrunk in place; kept alive by the thousand
                # (a save holds every stored event until the insert), such buffers cost about 2 us
                # each in fresh heap pages. An exact-size copy costs 0.1 us and frees the buffer at once.
                return memoryview(orjson.dumps(obj, default=self._default, option=_OPTIONS)).tobytes()
        except (_UseStockTranscoder, orjson.JSONEncodeError):
            pass
        return self.json.encode(obj)

    def _scan(self, obj: Any) -> bool:
        """True when every value in `obj` is of a type both encoders write identically.

        Written as flat loops over cached per-type kinds: this runs once per stored event, and a
        recursive call per value cost more than orjson's whole encoding.
        """
        kind = self._kinds.get(type(obj))
        if kind is None:
            kind = self._classify(type(obj))
        if kind <= _DEFAULT:
            return True
        if kind == _DICT:
            return self._scan_values(obj.values())
        if kind == _SEQUENCE:
            return self._scan_values(obj)
        return False

    def _scan_values(self, values: Iterable[Any]) -> bool:
        kinds = self._kinds
        for value in values:
            kind = kinds.get(type(value))
            if kind is None:
                kind = self._classify(type(value))
            if kind <= _DEFAULT:
                continue
            if kind == _DICT:
                if not self._scan_values(value.values()):
                    return False
            elif kind != _SEQUENCE or not self._scan_values(value):
                return False
        return True

    def _classify(self, cls: type) -> int:
        kind = _classify(cls, self.json.types)
        self._kinds[cls] = kind
        return kind

    def _default(self, obj: Any) -> Any:
        """orjson calls this for datetimes, dataclasses and other types it does not serialise itself."""
        encoder = self._encoders.get(type(obj))
        if encoder is None:
            encoder = self._encoders[type(obj)] = self._encoder_for(type(obj))
        return encoder(obj)

    def _encoder_for(self, cls: type) -> Callable[[Any], dict[str, Any]]:
        """The `{"_type_": name, "_data_": ...}` encoder of one registered type, specialised once.

        orjson calls `default` for every value object (three per wallet posting), so this is a
        per-type closure rather than a chain of checks per call.
        """
        transcoding = self.json.types.get(cls)
        if transcoding is None:
            raise _UseStockTranscoder
        name = transcoding.name
        scan = self._scan

        def encode_checked(obj: Any) -> dict[str, Any]:
            data = transcoding.encode(obj)
            if not scan(data):
                raise _UseStockTranscoder
            return {"_type_": name, "_data_": data}

        if type(transcoding) is DatetimeAsISO:
            # Every event of one command shares its datetime (domain.clock caches it per scope): the
            # encoded form of the last one is reused (holding it also keeps its id from being reused).
            last: list[Any] = [None, None]

            def encode_datetime(obj: Any) -> dict[str, Any]:
                if obj is last[0]:
                    return cast(dict[str, Any], last[1])
                encoded = {"_type_": name, "_data_": obj.isoformat()}
                last[0], last[1] = obj, encoded
                return encoded

            return encode_datetime
        if type(transcoding) is DataclassAsList:
            # A DataclassAsList's output is the list of its fields' values: read them with one
            # attrgetter call, and when every value is a primitive that list is the whole encoding.
            # Otherwise (a nested value object, a UUID) the transcoding's own output is scanned.
            getter = _field_getter(cls)
            primitive_types = _PRIMITIVES.issuperset

            def encode_dataclass(obj: Any) -> dict[str, Any]:
                values = getter(obj)
                if primitive_types(map(type, values)):
                    return {"_type_": name, "_data_": list(values)}
                return encode_checked(obj)

            return encode_dataclass
        return encode_checked

    # ---- decoding -------------------------------------------------------------------------------
    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[Any]:
        cls = resolve_topic(stored_event.topic)
        stored_state = stored_event.state
        try:
            if self.cipher:
                stored_state = self.cipher.decrypt(stored_state)
            if self.compressor:
                stored_state = self.compressor.decompress(stored_state)
            event_state: dict[str, Any] = self.decode(stored_state)
        except Exception as e:
            msg = (f"Failed to deserialise state of stored event with topic '{stored_event.topic}', "
                   f"originator_id '{stored_event.originator_id}' and "
                   f"originator_version {stored_event.originator_version}: {e}")
            raise MapperDeserialisationError(msg) from e
        id_convertor = find_id_convertor(cls, cast(Hashable, type(stored_event.originator_id)))
        event_state["originator_id"] = id_convertor(stored_event.originator_id)
        event_state["originator_version"] = stored_event.originator_version
        class_version = getattr(cls, "class_version", 1)
        from_version = event_state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(event_state)
            from_version += 1
        domain_event = object.__new__(cls)
        object.__setattr__(domain_event, "__dict__", event_state)
        return cast(DomainEventProtocol[Any], domain_event)

    def decode(self, data: bytes) -> Any:
        """What `JSONTranscoder.decode(data)` returns, parsed by orjson when that is exact."""
        try:
            return self._revive(orjson.loads(data))
        except (_UseStockTranscoder, orjson.JSONDecodeError):
            # Floats (orjson turns integers wider than 64 bits into floats) and NaN / Infinity
            # literals, which only the stock decoder reads as the stock encoder meant them.
            return self.json.decode(data)

    def _revive(self, obj: Any) -> Any:
        """Apply registered transcodings bottom-up, as JSONDecoder's object_hook does while parsing."""
        cls = type(obj)
        if cls is dict:
            return self._revive_dict(obj)
        if cls is list:
            self._revive_list(obj)
        elif cls is float:
            raise _UseStockTranscoder
        return obj

    def _revive_dict(self, obj: dict[str, Any]) -> Any:
        for key, value in obj.items():
            cls = type(value)
            if cls is dict:
                obj[key] = self._revive_dict(value)
            elif cls is list:
                self._revive_list(value)
            elif cls is float:
                raise _UseStockTranscoder
        if len(obj) == 2 and "_type_" in obj and "_data_" in obj:
            name = obj["_type_"]
            try:
                transcoding = self.json.names[name]
            except KeyError as e:
                msg = (f"Data serialized with name '{name}' is not deserializable. "
                       "Please register a custom transcoding for this type.")
                raise TranscodingNotRegisteredError(msg) from e
            return transcoding.decode(obj["_data_"])
        return obj

    def _revive_list(self, items: list[Any]) -> None:
        for index, value in enumerate(items):
            cls = type(value)
            if cls is dict:
                items[index] = self._revive_dict(value)
            elif cls is list:
                self._revive_list(value)
            elif cls is float:
                raise _UseStockTranscoder


def _classify(cls: type, registered: dict[type, Transcoding]) -> int:
    if cls in _PRIMITIVES:
        return _LEAF
    if cls in registered and (cls is datetime or is_dataclass(cls) or not issubclass(
            cls, str | int | float | dict | list | tuple | date | time | Enum | UUID)):
        # orjson hands exactly these to `default` (datetimes and dataclasses through the passthrough
        # options): registered types it would serialise natively instead are _FOREIGN below.
        return _DEFAULT
    if issubclass(cls, float | tuple) and cls is not tuple:
        return _FOREIGN  # float notation differs; tuple subclasses (named tuples) go to `default`
    if issubclass(cls, dict):
        return _DICT
    if issubclass(cls, list | tuple):
        return _SEQUENCE
    if issubclass(cls, str | int) and not issubclass(cls, float):
        return _LEAF  # str and int subclasses (StrEnum, IntEnum): both write the plain value
    return _FOREIGN


def _field_getter(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    names = [field.name for field in fields(cls)]
    if len(names) == 1:
        single = attrgetter(names[0])
        return lambda obj: (single(obj),)
    return cast(Callable[[Any], tuple[Any, ...]], attrgetter(*names))


"""The single place where engine functions are compiled, and the monotonic clock they may read.

Every hot-path function in engine/ is a plain Python function decorated with `compiled`. Under
NUMBA_DISABLE_JIT=1 the decorator returns the function unchanged, so the same code runs as plain
Python (slow, but step-debuggable and usable by tests). `fn.py_func` gives the plain function of a
compiled one.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import numba
from numba.core import config as numba_config

F = TypeVar("F", bound=Callable[..., Any])

JIT_DISABLED: bool = bool(numba_config.DISABLE_JIT)  # type: ignore[attr-defined]

_ENGINE_DIR = Path(__file__).resolve().parent
_SOURCES_STAMP = "engine-sources.sha256"


def _sources_digest() -> str:
    digest = hashlib.sha256(f"{numba.__version__} {sys.version}".encode())
    for source in sorted(_ENGINE_DIR.glob("*.py")):
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


def _cache_probe() -> int:
    return 0


def _drop_stale_cache() -> None:
    """Numba keys each cached function on its own source file only, so a caller's cache (say
    batch.process_batch) keeps old copies of callees from other engine modules after those change.
    Cached code is therefore tied to a digest of all engine sources: on any change, the engine's
    cache files are deleted before anything is compiled or loaded."""
    probe: Any = numba.njit(cache=True)(_cache_probe)  # where Numba caches this package's functions
    cache_dir = Path(probe._cache._cache_path)
    stamp = cache_dir / _SOURCES_STAMP
    digest = _sources_digest()
    try:
        if stamp.read_text() == digest:
            return
    except OSError:
        pass
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        for cached in (*cache_dir.glob("*.nbi"), *cache_dir.glob("*.nbc")):
            cached.unlink(missing_ok=True)
        stamp.write_text(digest)
    except OSError:
        pass  # a read-only cache location: Numba then recompiles or uses its own fallback


if not JIT_DISABLED:
    _drop_stale_cache()


def compiled(function: F) -> F:
    """Compile with Numba in nopython mode, cached on disk so a restart pays no compile time."""
    return cast(F, numba.njit(cache=True)(function))


def compiled_with_signature(signature: Any) -> Callable[[F], F]:
    """As `compiled`, for one fixed signature. Numba otherwise compiles a separate version for
    every distinct literal argument (emit is called with ~30 different constant combinations),
    which multiplies cold compile time; a fixed signature casts the constants instead."""

    def decorate(function: F) -> F:
        return cast(F, numba.njit(signature, cache=True)(function))

    return decorate


def _python_monotonic_ns() -> int:
    return time.monotonic_ns()


def _make_compiled_clock() -> Callable[[], int]:
    # An LLVM-level call to libc clock_gettime by symbol name: unlike a ctypes function pointer it
    # embeds no process-specific address, so functions that use it can still be cached on disk.
    from llvmlite import ir  # type: ignore[import-untyped]
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    clock_monotonic = 1  # Linux CLOCK_MONOTONIC

    @intrinsic
    def monotonic_ns(typingctx: Any) -> Any:
        signature = types.int64()

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            i32 = ir.IntType(32)
            i64 = ir.IntType(64)
            timespec = ir.LiteralStructType([i64, i64])
            function_type = ir.FunctionType(i32, [i32, timespec.as_pointer()])
            clock_gettime = cgutils.get_or_insert_function(  # type: ignore[no-untyped-call]
                builder.module, function_type, "clock_gettime"
            )
            buffer = cgutils.alloca_once(builder, timespec)  # type: ignore[no-untyped-call]
            builder.call(clock_gettime, [ir.Constant(i32, clock_monotonic), buffer])
            zero = ir.Constant(i32, 0)
            seconds = builder.load(builder.gep(buffer, [zero, zero]))
            nanoseconds = builder.load(builder.gep(buffer, [zero, ir.Constant(i32, 1)]))
            return builder.add(builder.mul(seconds, ir.Constant(i64, 1_000_000_000)), nanoseconds)

        return signature, codegen

    return cast(Callable[[], int], monotonic_ns)


def _make_data_pointer() -> Callable[[Any], Any]:
    from numba.core import types
    from numba.extending import intrinsic

    @intrinsic
    def data_pointer(typingctx: Any, array: Any) -> Any:
        signature = types.CPointer(array.dtype)(array)  # type: ignore[no-untyped-call]

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            return context.make_array(sig.args[0])(context, builder, args[0]).data

        return signature, codegen

    return cast(Callable[[Any], Any], data_pointer)


def _python_as_pointer(array: Any) -> Any:
    return array.reshape(-1)


def _make_compiled_as_pointer() -> Callable[[Any], Any]:
    data_pointer = _make_data_pointer()

    def as_pointer(array: Any) -> Any:
        return data_pointer(array)

    return cast(Callable[[Any], Any], numba.njit(cache=True, inline="always")(as_pointer))


# The book's arrays reach the hot path as raw data pointers indexed flat (row * fields + column).
# An array argument is a 7 to 9 word struct whose owner Numba reference-counts (an out-of-line call
# and an atomic operation) at every compiled call that is not inlined; with a handful of arrays
# that costs more than the matching itself. A pointer is one word and is not counted. The caller
# keeps the arrays alive for the whole compiled call. Uncompiled, a flat view takes the same
# indexing.
as_pointer: Callable[[Any], Any] = _python_as_pointer if JIT_DISABLED else _make_compiled_as_pointer()

# Only used to time commands for benchmarks (process_timed); matching never reads a clock.
monotonic_ns: Callable[[], int] = _python_monotonic_ns if JIT_DISABLED else _make_compiled_clock()

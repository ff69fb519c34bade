"""Determinism: byte-identical output in separate processes whatever PYTHONHASHSEED is."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.conftest import ENGINE_REPLAY_SCRIPT, model_replay_output, require_engine, run_python, write_jsonl
from tests.engine.streams import random_stream


@pytest.mark.slow
@pytest.mark.parametrize("seed", [7, 20240601])
def test_same_stream_gives_identical_bytes_across_processes_and_hash_seeds(tmp_path: Path, seed: int) -> None:
    require_engine()
    stream = write_jsonl(tmp_path / "stream.jsonl", random_stream(seed, 3000))
    outputs = []
    for hash_seed in ("0", "12345"):
        result = run_python(["-c", ENGINE_REPLAY_SCRIPT, str(stream)], {"PYTHONHASHSEED": hash_seed})
        assert result.returncode == 0, result.stderr.decode()
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    text = outputs[0].decode("utf-8")
    assert '"type":"trade"' in text and '"type":"triggered"' in text, "the stream exercises matching"
    assert text == model_replay_output(random_stream(seed, 3000))

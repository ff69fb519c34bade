"""`tradex run`: the embedded default end to end, as a newcomer runs it (twice, to show it is re-runnable)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def data_dir() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="tradex-run-"))
    base.chmod(0o711)
    yield base / "var"
    shutil.rmtree(base, ignore_errors=True)


def tradex(*args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEX_")} | extra_env
    return subprocess.run([sys.executable, "-m", "infra.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def balances_section(output: str) -> str:
    return output.split("\nbalances\n", 1)[1].split("\n\n", 1)[0]


def test_run_plays_the_session_proves_zero_sum_and_is_safe_to_rerun(data_dir: Path) -> None:
    first = tradex("run", "--data-dir", str(data_dir), "--seconds", "0")
    assert first.returncode == 0, first.stderr + first.stdout
    assert "invariants hold" in first.stdout
    assert re.search(r"sum of all balances is BTC 0, ETH 0, USDT 0", first.stdout)
    assert "BTC-USDT" in first.stdout and "Carol Newcomer" in first.stdout
    assert "refused account_not_verified" in first.stdout and "refused insufficient_funds" in first.stdout
    assert re.search(r"fees\s+USDT\s+90\.000000", first.stdout)
    assert re.search(r"hash chain: \d+ events verified, intact", first.stdout)
    second = tradex("run", "--data-dir", str(data_dir), "--seconds", "0")
    assert second.returncode == 0, second.stderr + second.stdout
    assert "already applied" in second.stdout and "session:1:deposit      applied" not in second.stdout
    assert balances_section(second.stdout) == balances_section(first.stdout)


def test_run_with_a_broken_seed_exits_non_zero_with_a_message(data_dir: Path, tmp_path: Path) -> None:
    seed = tmp_path / "seed.toml"
    seed.write_text('[[session]]\nstep = "teleport"\n')
    result = tradex("run", "--data-dir", str(data_dir), "--seed", str(seed), "--seconds", "0")
    assert result.returncode == 2
    assert "unknown step 'teleport'" in result.stderr


def test_run_serves_the_whole_venue_with_a_simulated_market_then_stops_cleanly(data_dir: Path) -> None:
    """The venue, its projectors and its API run as three processes; the API answers while it runs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEX_")} | {"TRADEX_API_PORT": "0"}
    process = subprocess.Popen([sys.executable, "-m", "infra.cli", "run", "--data-dir", str(data_dir), "--simulate",
                                "--seconds", "12"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines: list[str] = []
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("serving"):
                break
        api_line = next(line for line in lines if line.startswith("api (process "))
        url = re.search(r"(http://127\.0\.0\.1:\d+)", api_line).group(1)  # type: ignore[union-attr]
        assert "/docs" in api_line
        projector_pid = int(re.search(r"projectors \(process (\d+)\)", "".join(lines)).group(1))  # type: ignore[union-attr]
        api_pid = int(re.search(r"api \(process (\d+)\)", api_line).group(1))  # type: ignore[union-attr]
        assert len({process.pid, projector_pid, api_pid}) == 3
        token = tradex("token", "--data-dir", str(data_dir), "--role", "trader", "--account", "1001")
        assert token.returncode == 0, token.stderr
        headers = {"Authorization": f"Bearer {token.stdout.strip()}"}
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        instruments = httpx.get(f"{url}/v1/instruments", headers=headers, timeout=10)
        assert instruments.status_code == 200, instruments.text
        assert {item["symbol"] for item in instruments.json()["instruments"]} >= {"BTC-USDT"}
        book = httpx.get(f"{url}/v1/markets/BTC-USDT/book", headers=headers, timeout=10)
        assert book.status_code == 200, book.text  # from the venue's engine, over the command link
        remaining, errors = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, errors + "".join(lines) + remaining
    stopped = next(line for line in remaining.splitlines() if line.startswith("stopped: "))
    simulated = int(re.search(r"simulated flow (\d+) commands", stopped).group(1))  # type: ignore[union-attr]
    assert simulated > 0
    head = int(re.search(r"log head (\d+)", stopped).group(1))  # type: ignore[union-attr]
    assert int(re.search(r"read models at (\d+)", stopped).group(1)) == head  # type: ignore[union-attr]
    # a second start rebuilds the books from the log, including the simulated market's batches
    again = tradex("run", "--data-dir", str(data_dir), "--seconds", "1", TRADEX_API_PORT="0")
    assert again.returncode == 0, again.stderr + again.stdout
    rebuilt = next(line for line in again.stdout.splitlines() if line.startswith("venue: books rebuilt"))
    assert sum(int(n) for n in re.findall(r"(\d+) engine commands replayed", rebuilt)) > 0


def test_ctrl_c_to_the_whole_process_group_stops_the_venue_in_order(data_dir: Path) -> None:
    """A terminal's Ctrl-C reaches every process of the group: the venue still stops in its own order."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEX_")} | {"TRADEX_API_PORT": "0"}
    process = subprocess.Popen([sys.executable, "-m", "infra.cli", "run", "--data-dir", str(data_dir), "--simulate"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               start_new_session=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("simulated market"):
                break
        time.sleep(2)
        os.killpg(process.pid, signal.SIGINT)  # the group this test started, as a terminal would
        remaining, errors = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, errors + remaining
    assert "the projectors stopped" not in remaining, remaining
    stopped = next(line for line in remaining.splitlines() if line.startswith("stopped: "))
    head = int(re.search(r"log head (\d+)", stopped).group(1))  # type: ignore[union-attr]
    assert int(re.search(r"read models at (\d+)", stopped).group(1)) == head  # type: ignore[union-attr]

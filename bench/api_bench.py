"""`tradex bench api`: the HTTP API under concurrent clients over loopback, end to end.

It starts a private PostgreSQL (fsync on) in a temporary directory, a venue with `--accounts` funded
trader accounts on BTC-USDT, its sequencer, and the API: by default as `tradex run` serves it, in a
process of its own that reaches the sequencer over the command link (`--api process`), or with uvicorn
in the venue's own process, talking to the sequencer in memory (`--api in-process`), then drives it
with Debian's `wrk` (C, `--connections` keep-alive connections on `--threads` threads; Lua scripts give
every request its own command id and a rotating account and token) or, without wrk, with an asyncio
httpx client in a second process. Phases, each `--seconds` long after
a short warm-up:

1. place: POST /v1/orders, 0.01 BTC at 60,000 USDT, buys and sells alternating, so they trade out;
2. balances: GET /v1/accounts/{id}/balances;
3. orders: GET /v1/accounts/{id}/orders?limit=20.

It prints req/s, p50/p99 latency (wrk's closed loop: a slow answer delays that connection's next
request), non-2xx answers, the sequencer's mean batch, how long the read models took to reach the log's
head before a query phase (queries are measured in that steady state), and the load average (other
work on the machine shares the 2 cores). It prints numbers; it is not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from commands import ledger_commands as c
from commands.ledger import Ledger
from commands.sequencer import Sequencer
from commands.venue import Venue
from infra.api_process import ApiProcess, ApiProcessSpec
from infra.api_server import ApiServer, ApiSettings, LedgerEventFeed, SequencerGateway
from infra.bootstrap import postgres_env
from infra.clock import WallClock
from infra.command_link import CommandLinkServer, link_directory
from infra.embedded_postgres import PgConnectionInfo, temporary_server
from infra.projector_process import ProjectorProcess, ProjectorSpec
from infra.settings import Settings
from infra.token_cli import mint_token
from queries.app import ApiConfig, create_app
from queries.auth import ApiKeyStore, Authenticator, JwtSettings, JwtVerifier, VerificationKey

SYMBOL = "BTC-USDT"
FIRST_ACCOUNT = 10_001
FUNDING_MINOR = 10**13
ISSUER, AUDIENCE, KID = "tradex-bench", "tradex-bench-api", "bench"

PLACE_LUA = """
local accounts = {%(accounts)s}
local tokens = {%(tokens)s}
local counter = 0
local thread_count = 0
function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
end
function request()
  counter = counter + 1
  local i = (counter %% #accounts) + 1
  local side = "sell"
  if math.floor(counter / #accounts) %% 2 == 1 then side = "buy" end
  local body = string.format('{"command_id":"%(run)s-%%d-%%d","account_id":%%d,"symbol":"%(symbol)s",' ..
    '"side":"%%s","qty":"0.01","price":"60000"}', thread_id, counter, accounts[i], side)
  return wrk.format("POST", "/v1/orders", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[i]}, body)
end
"""

GET_LUA = """
local accounts = {%(accounts)s}
local tokens = {%(tokens)s}
local counter = 0
function request()
  counter = counter + 1
  local i = (counter %% #accounts) + 1
  return wrk.format("GET", string.format("%(path)s", accounts[i]), {["Authorization"] = "Bearer " .. tokens[i]})
end
"""


@dataclass
class PhaseResult:
    phase: str
    tool: str
    seconds: float
    requests: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: str
    mean_batch: float = 0.0
    settled_s: float = 0.0  # a query phase starts once the read models reached the log's head; how long that took


def embedded_server() -> AbstractContextManager[PgConnectionInfo]:
    """A private PostgreSQL with fsync on, in a temporary directory removed afterwards."""
    return temporary_server("tradex-api-bench-")


def setup_commands(accounts: list[int]) -> list[c.Command]:
    commands: list[c.Command] = [
        c.RegisterAsset("bench-usdt", "USDT", 6), c.RegisterAsset("bench-btc", "BTC", 8),
        c.ListInstrument("bench-btc-usdt", SYMBOL, "BTC", "USDT", 10_000, 10_000, 1, 1_000_000, 100_000,
                         50_000_000, 1_000, 2_000)]
    for account in accounts:
        commands += [c.OpenAccount(f"bench-open-{account}", account, {"name": f"bench {account}"}),
                     c.VerifyKyc(f"bench-kyc-{account}", account, "bench"),
                     c.Deposit(f"bench-usdt-{account}", account, "USDT", FUNDING_MINOR),
                     c.Deposit(f"bench-btc-{account}", account, "BTC", FUNDING_MINOR)]
    return commands


def parse_wrk(output: str) -> tuple[int, float, float, float, int, str]:
    """(requests, seconds, p50 ms, p99 ms, non-2xx, socket errors) from `wrk --latency` output."""
    def ms(text: str) -> float:
        number, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]

    requests_match = re.search(r"(\d+) requests in ([\d.]+)(\w+)", output)
    if requests_match is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    seconds = ms(requests_match.group(2) + requests_match.group(3)) / 1000.0
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return (int(requests_match.group(1)), seconds, ms(p50.group(1)) if p50 else 0.0, ms(p99.group(1)) if p99 else 0.0,
            int(non_2xx.group(1)) if non_2xx else 0, errors.group(1) if errors else "")


def run_wrk(url: str, script: str, seconds: float, connections: int, threads: int, directory: Path) -> str:
    path = directory / f"script-{time.monotonic_ns()}.lua"
    path.write_text(script)
    command = ["wrk", "--latency", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
               "--timeout", "10s", "-s", str(path), url]
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=seconds + 60).stdout


def httpx_load(url: str, requests_spec: dict[str, Any], seconds: float, connections: int) -> dict[str, Any]:
    """The fallback load generator: an asyncio httpx client in another process (so it has its own GIL)."""
    code = HTTPX_CLIENT % {"spec": json.dumps(requests_spec), "url": url, "seconds": seconds,
                           "connections": connections}
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                            timeout=seconds + 120).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


HTTPX_CLIENT = r"""
import asyncio, json, time, httpx
spec = json.loads('''%(spec)s''')
async def worker(client, index, deadline, latencies, statuses):
    n = 0
    while time.perf_counter() < deadline:
        n += 1
        i = (index + n) %% len(spec["accounts"])
        account, token = spec["accounts"][i], spec["tokens"][i]
        headers = {"Authorization": "Bearer " + token}
        began = time.perf_counter()
        try:
            if spec["kind"] == "place":
                side = "buy" if (n // len(spec["accounts"])) %% 2 else "sell"
                response = await client.post("/v1/orders", headers=headers, json={
                    "command_id": f"{spec['run']}-{index}-{n}", "account_id": account, "symbol": "BTC-USDT",
                    "side": side, "qty": "0.01", "price": "60000"})
            else:
                response = await client.get(spec["path"].replace("%%d", str(account)), headers=headers)
        except httpx.HTTPError as error:  # counted, not fatal: a timeout is a result too
            key = "error:" + type(error).__name__
            statuses[key] = statuses.get(key, 0) + 1
            continue
        latencies.append(time.perf_counter() - began)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
async def main():
    latencies, statuses = [], {}
    limits = httpx.Limits(max_connections=%(connections)d, max_keepalive_connections=%(connections)d)
    async with httpx.AsyncClient(base_url="%(url)s", limits=limits, timeout=10) as client:
        began = time.perf_counter()
        deadline = began + %(seconds)f
        await asyncio.gather(*(worker(client, i, deadline, latencies, statuses) for i in range(%(connections)d)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0.0
    print(json.dumps({"requests": len(latencies), "seconds": elapsed, "p50_ms": pick(0.5), "p99_ms": pick(0.99),
                      "non_2xx": sum(v for k, v in statuses.items() if not (isinstance(k, int) and 200 <= k < 300))}))
asyncio.run(main())
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per phase (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each phase")
    parser.add_argument("--connections", type=int, default=64, help="concurrent keep-alive connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1: the machine has 2 cores)")
    parser.add_argument("--accounts", type=int, default=64, help="trader accounts (one token each)")
    parser.add_argument("--tool", choices=("auto", "wrk", "httpx"), default="auto")
    parser.add_argument("--phases", default="place,balances,orders")
    parser.add_argument("--api", choices=("process", "in-process"), default="process",
                        help="the API in a process of its own (as `tradex run`), or in the venue's process")
    parser.add_argument("--read-models", choices=("postgres", "memory"), default="postgres",
                        help="with --api process: queries from the PostgreSQL read models, kept by the projectors in "
                             "a process of their own (as `tradex run`), or from the API process's fold of the log")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    tool = args.tool if args.tool != "auto" else ("wrk" if shutil.which("wrk") else "httpx")
    accounts = list(range(FIRST_ACCOUNT, FIRST_ACCOUNT + args.accounts))
    key = Ed25519PrivateKey.generate()
    tokens = [mint_token(key, "trader", [account], issuer=ISSUER, audience=AUDIENCE, kid=KID, ttl_s=3_600)
              for account in accounts]
    public_pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    results: list[PhaseResult] = []
    load_before = os.getloadavg()
    with embedded_server() as info, tempfile.TemporaryDirectory(prefix="tradex-api-bench-") as scratch:
        ledger = Ledger(env=postgres_env(info), clock=WallClock())
        try:
            ledger.open_system_wallets()
            venue = Venue(ledger)
            venue.start()
            for outcome in venue.process(setup_commands(accounts)):
                if not outcome.ok:
                    raise RuntimeError(f"setup refused {outcome.command_id}: {outcome.error}")
            sequencer = Sequencer(venue).start()
            try:
                with serving(args.api, args.read_models, ledger, info, venue, sequencer, public_pem,
                             Path(scratch)) as url:
                    for phase in args.phases.split(","):
                        settled_s = 0.0 if phase == "place" else settle(url, tokens[0], accounts[0], ledger)
                        results.append(run_phase(phase, url, tool, accounts, tokens, args, Path(scratch),
                                                 sequencer, settled_s))
            finally:
                sequencer.stop()
        finally:
            ledger.close()
    report = {"tool": tool, "api": args.api, "read_models": args.read_models if args.api == "process" else "memory",
              "connections": args.connections, "threads": args.threads,
              "accounts": args.accounts,
              "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()],
              "cpus": os.cpu_count(), "phases": [asdict(result) for result in results]}
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"API ({args.api}, read models {report['read_models']}) over loopback: {tool}, "
              f"{args.connections} connections, {args.accounts} accounts, PostgreSQL fsync on; "
              f"load average before {report['load_before']}, after {report['load_after']}")
        print(f"{'phase':<10} {'requests':>9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} "
              f"{'mean batch':>10} {'settled s':>9}")
        for result in results:
            print(f"{result.phase:<10} {result.requests:>9,} {result.requests_per_s:>9,.0f} {result.p50_ms:>8.2f} "
                  f"{result.p99_ms:>8.2f} {result.non_2xx:>8,} {result.mean_batch:>10.1f} {result.settled_s:>9.1f}"
                  + (f"  socket errors: {result.errors}" if result.errors else ""))
    return 0 if all(result.non_2xx == 0 and not result.errors for result in results) else 1


@contextmanager
def serving(mode: str, read_models: str, ledger: Ledger, info: PgConnectionInfo, venue: Venue, sequencer: Sequencer,
            public_pem: bytes, scratch: Path) -> Iterator[str]:
    """The API's URL: served by a process of its own over the command link (with the projectors in another,
    for the PostgreSQL read models), or by uvicorn in this one (queries from its fold of the log)."""
    config = ApiConfig(rate_per_s=1e9, rate_burst=10**9)  # the benchmark measures the API, not its limiter
    if mode == "in-process":
        verifier = JwtVerifier(JwtSettings((VerificationKey(KID, "EdDSA", public_pem),), ISSUER, AUDIENCE))
        app = create_app(config, SequencerGateway(venue, sequencer), LedgerEventFeed(ledger),
                         Authenticator(verifier, ApiKeyStore()))
        with ApiServer(app) as server:
            yield server.url
        return
    key_path = scratch / "jwt-public.pem"
    key_path.write_bytes(public_pem)
    settings = ApiSettings(port=0, issuer=ISSUER, audience=AUDIENCE, jwt_public_key=str(key_path),
                           jwt_algorithm="EdDSA", jwt_kid=KID)
    link_dir = link_directory()
    try:
        with ExitStack() as stack:
            conninfo: str | None = None
            if read_models == "postgres":
                conninfo = info.conninfo()
                projectors = ProjectorProcess(ProjectorSpec(postgres_env(info), conninfo,
                                                            Settings(data_dir=scratch / "var"))).start()
                stack.callback(projectors.stop)
            link = stack.enter_context(CommandLinkServer(SequencerGateway(venue, sequencer),
                                                         link_dir / "commands.sock"))
            api = stack.enter_context(ApiProcess(ApiProcessSpec(postgres_env(info), link.path, settings, scratch,
                                                                read_models_conninfo=conninfo, config=config)))
            yield api.url
    finally:
        shutil.rmtree(link_dir, ignore_errors=True)


def settle(url: str, token: str, account: int, ledger: Ledger, timeout_s: float = 300.0) -> float:
    """Wait until the API's read models reflect the whole log (its head now): queries are measured in a
    steady state, not while the projectors still catch up with the placement phase. Returns the wait."""
    head = int(ledger.recorder.max_notification_id() or 0)
    began = time.perf_counter()
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30.0) as client:
        while True:
            answer = client.get(f"/v1/accounts/{account}/balances", params={"min_position": head})
            if answer.status_code == 200:
                return time.perf_counter() - began
            if time.perf_counter() - began > timeout_s:
                raise RuntimeError(f"the read models did not reach position {head} in {timeout_s:g} s: "
                                   f"{answer.status_code} {answer.text[:200]}")


def run_phase(phase: str, url: str, tool: str, accounts: list[int], tokens: list[str], args: argparse.Namespace,
              scratch: Path, sequencer: Sequencer, settled_s: float = 0.0) -> PhaseResult:
    paths = {"balances": "/v1/accounts/%d/balances", "orders": "/v1/accounts/%d/orders?limit=20"}
    if phase not in ("place", *paths):
        raise ValueError(f"unknown phase {phase}")
    quoted_accounts = ",".join(map(str, accounts))
    quoted_tokens = ",".join(f'"{token}"' for token in tokens)
    batches_before, commands_before = sequencer.stats.batches, sequencer.stats.commands
    outcome: tuple[int, float, float, float, int, str]
    for run_index, seconds in enumerate((args.warmup, args.seconds)):
        if seconds <= 0:
            continue
        run_id = f"{phase}{run_index}-{time.monotonic_ns()}"
        if tool == "wrk":
            script = (PLACE_LUA % {"accounts": quoted_accounts, "tokens": quoted_tokens, "run": run_id,
                                   "symbol": SYMBOL} if phase == "place" else
                      GET_LUA % {"accounts": quoted_accounts, "tokens": quoted_tokens, "path": paths[phase]})
            outcome = parse_wrk(run_wrk(url, script, seconds, args.connections, args.threads, scratch))
        else:
            spec = {"kind": phase, "accounts": accounts, "tokens": tokens, "run": run_id,
                    "path": paths.get(phase, "")}
            measured = httpx_load(url, spec, seconds, args.connections)
            outcome = (measured["requests"], measured["seconds"], measured["p50_ms"], measured["p99_ms"],
                       measured["non_2xx"], "")
        if run_index == 0:
            batches_before, commands_before = sequencer.stats.batches, sequencer.stats.commands
    requests, seconds, p50, p99, non_2xx, errors = outcome
    batches = sequencer.stats.batches - batches_before
    mean_batch = (sequencer.stats.commands - commands_before) / batches if batches else 0.0
    return PhaseResult(phase, tool, seconds, requests, requests / seconds if seconds else 0.0, p50, p99, non_2xx,
                       errors, mean_batch if phase == "place" else 0.0, settled_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tradex bench api", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

"""`tradex token`: the development key pair in the data directory, tokens the API accepts, API keys."""

from __future__ import annotations

import argparse
import stat
from pathlib import Path

import pytest

from infra.api_server import ApiSettings, authenticator_for
from infra.token_cli import add_token_parser, ensure_dev_keys
from queries.errors import ApiError


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    add_token_parser(parser.add_subparsers())
    args = parser.parse_args(["token", *argv])
    code = int(args.func(args))
    return code, capsys.readouterr().out.strip()


def test_dev_token_verifies_against_the_data_dir_key(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no tradex.toml here
    code, token = _run(capsys, "--role", "trader", "--account", "1001", "--data-dir", str(tmp_path / "var"))
    assert code == 0 and token.count(".") == 2
    private_path, public_path = ensure_dev_keys(tmp_path / "var")
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600 and public_path.exists()
    authenticator = authenticator_for(ApiSettings(), tmp_path / "var")
    principal = authenticator.authenticate(f"Bearer {token}", None)
    assert (principal.role, principal.accounts) == ("trader", frozenset({1001}))
    # a trader token needs an account
    assert _run(capsys, "--role", "trader", "--data-dir", str(tmp_path / "var"))[0] == 2


def test_api_keys_issue_and_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    data_dir = str(tmp_path / "var")
    code, key = _run(capsys, "--api-key", "--role", "risk", "--data-dir", data_dir)
    assert code == 0 and key.startswith("tdx_")
    authenticator = authenticator_for(ApiSettings(), tmp_path / "var")
    assert authenticator.authenticate(None, key).role == "risk"
    assert _run(capsys, "--revoke", key.split("_")[1], "--data-dir", data_dir)[0] == 0
    with pytest.raises(ApiError) as refused:  # the running API's store sees the revocation
        authenticator.authenticate(None, key)
    assert (refused.value.status, refused.value.code) == (401, "api_key_revoked")

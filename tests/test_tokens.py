"""Signed recipient tokens: nobody can unsubscribe someone else."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailer.errors import ConfigError
from mailer.tokens import InvalidToken, Signer, load_signing_key

SIGNER = Signer(b"0123456789abcdef0123456789abcdef")


@given(st.text(min_size=1), st.text())
def test_tokens_round_trip_any_ids(customer_id: str, campaign_id: str) -> None:
    subject = SIGNER.verify(SIGNER.sign(customer_id.replace("\x1f", ""), campaign_id))
    assert subject.customer_id == customer_id.replace("\x1f", "")


def test_a_token_for_one_customer_cannot_be_edited_into_another() -> None:
    token = SIGNER.sign("alice", "c1")
    other = SIGNER.sign("bob", "c1")
    forged = other.split(".")[0] + "." + token.split(".")[1]
    with pytest.raises(InvalidToken):
        SIGNER.verify(forged)


def test_a_token_from_another_key_is_refused() -> None:
    with pytest.raises(InvalidToken):
        Signer(b"another key of enough length!!").verify(SIGNER.sign("alice", "c1"))


@pytest.mark.parametrize("garbage", ["", ".", "abc", "a.b.c", "!!!.???", "YWxpY2U"])
def test_malformed_tokens_are_refused(garbage: str) -> None:
    with pytest.raises(InvalidToken):
        SIGNER.verify(garbage)


def test_tokens_are_url_safe() -> None:
    token = SIGNER.sign("ünïcode/customer?&=", "campaign 1")
    assert all(c.isalnum() or c in "-_." for c in token)


def test_short_keys_are_refused() -> None:
    with pytest.raises(ConfigError):
        Signer(b"short")


def test_key_comes_from_the_environment_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_SECRET", "from-the-environment-0123456789")
    assert load_signing_key(state_dir=tmp_path) == b"from-the-environment-0123456789"
    assert not (tmp_path / "secret").exists()


def test_generated_key_is_kept_private_and_stable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILER_SECRET", raising=False)
    first = load_signing_key(state_dir=tmp_path)
    assert load_signing_key(state_dir=tmp_path) == first
    mode = stat.S_IMODE(os.stat(tmp_path / "secret").st_mode)
    assert mode == 0o600

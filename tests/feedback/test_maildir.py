"""Reading a Maildir of feedback: every message once, none lost, nothing stops the loop."""

from __future__ import annotations

import mailbox
import os
from pathlib import Path

import pytest

from mailer.errors import ConfigError
from mailer.feedback.maildir import mark_processed, read_maildir
from tests.conftest import shared_path

HARD = b"From: MAILER-DAEMON@mx.example.com\nSubject: failure notice\n\n<ann@example.com>:\nSorry, no mailbox here by that name. (#5.1.1)\n"
REPLY = b"From: Bob <bob@example.com>\nSubject: Re: autumn sale\n\nThanks!\n"


@pytest.fixture
def maildir(tmp_path: Path) -> Path:
    mailbox.Maildir(tmp_path / "bounces")
    return tmp_path / "bounces"


def _deliver(root: Path, data: bytes) -> str:
    return mailbox.Maildir(root, create=False).add(data)


def test_each_message_is_read_with_its_key(maildir: Path) -> None:
    hard, reply = _deliver(maildir, HARD), _deliver(maildir, REPLY)
    assert sorted((key, feedback.kind) for key, feedback in read_maildir(maildir)) == sorted([(hard, "hard"), (reply, "not-feedback")])


def test_a_processed_message_is_not_read_again(maildir: Path) -> None:
    key = _deliver(maildir, HARD)
    mark_processed(maildir, key)
    assert list(read_maildir(maildir)) == []
    assert [k for k, _ in read_maildir(maildir, include_processed=True)] == [key]


def test_marking_moves_the_file_to_cur_with_the_seen_flag_and_keeps_its_bytes(maildir: Path) -> None:
    key = _deliver(maildir, HARD)
    mark_processed(maildir, key)
    assert os.listdir(maildir / "new") == []
    assert os.listdir(maildir / "cur") == [f"{key}{mailbox.Maildir.colon}2,S"]
    assert (maildir / "cur" / f"{key}{mailbox.Maildir.colon}2,S").read_bytes() == HARD


def test_marking_keeps_the_flags_a_mail_client_set(maildir: Path) -> None:
    key = _deliver(maildir, HARD)
    os.replace(maildir / "new" / key, maildir / "cur" / f"{key}{mailbox.Maildir.colon}2,F")
    assert [k for k, _ in read_maildir(maildir)] == [key]
    mark_processed(maildir, key)
    mark_processed(maildir, key)
    assert os.listdir(maildir / "cur") == [f"{key}{mailbox.Maildir.colon}2,FS"]


@pytest.mark.parametrize("key", ["nope", "", "../bounces", ".", ".."])
def test_marking_an_unknown_key_is_a_key_error(maildir: Path, key: str) -> None:
    with pytest.raises(KeyError):
        mark_processed(maildir, key)


def test_a_directory_that_is_not_a_maildir_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a Maildir"):
        list(read_maildir(tmp_path))


def test_unreadable_messages_are_yielded_as_not_feedback_and_the_loop_goes_on(maildir: Path) -> None:
    keys = [_deliver(maildir, data) for data in (b"\x00\xff" * 50, b"", HARD)]
    results = dict(read_maildir(maildir))
    assert set(results) == set(keys)
    assert [results[key].kind for key in keys] == ["not-feedback", "not-feedback", "hard"]


def test_a_message_removed_while_reading_is_skipped_not_raised(maildir: Path) -> None:
    first, second = _deliver(maildir, HARD), _deliver(maildir, HARD)
    reader = read_maildir(maildir)
    key, _ = next(reader)
    (maildir / "new" / (second if key == first else first)).unlink()
    assert list(reader) == []


def test_a_message_that_cannot_be_opened_is_reported_and_the_loop_goes_on(maildir: Path) -> None:
    locked, readable = _deliver(maildir, HARD), _deliver(maildir, HARD)
    (maildir / "new" / locked).unlink()
    (maildir / "new" / locked).symlink_to(maildir / "nowhere")
    results = dict(read_maildir(maildir))
    assert results[locked].kind == "not-feedback" and "could not be read" in results[locked].reason
    assert results[readable].kind == "hard"


def test_the_whole_corpus_reads_through_a_maildir(maildir: Path) -> None:
    files = sorted(shared_path("bounces").glob("*/*.eml"))
    for path in files:
        _deliver(maildir, path.read_bytes())
    seen = 0
    for key, feedback in read_maildir(maildir):
        assert feedback.reason
        mark_processed(maildir, key)
        seen += 1
    assert seen == len(files) and list(read_maildir(maildir)) == []

"""``mailer bounces read|list``, and the complaint rates ``mailer status``
and ``mailer campaign show`` report."""

from __future__ import annotations

import json
import mailbox
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailer.cli import main
from mailer.content.mime import message_id
from mailer.feedback import parse_feedback
from mailer.store import NewDelivery, Outcome, Store, open_store
from tests.conftest import shared_path
from tests.support.bounce_mail import SIGNER, arf, dsn, out_of_office, soft, verp


@pytest.fixture(autouse=True)
def project_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The link-signing key the messages' VERP tokens were made with."""
    monkeypatch.setenv("MAILER_SECRET", SIGNER.key.decode())
    monkeypatch.setenv("MAILER_NO_PROGRESS", "1")


def out(capsys: pytest.CaptureFixture[str], *argv: str, code: int = 0) -> str:
    capsys.readouterr()
    assert main(list(argv)) == code, capsys.readouterr()
    return capsys.readouterr().out


def sent(store: Store, campaign: str, n: int, *, waiting: int = 0) -> list[str]:
    """``n`` messages of ``campaign`` accepted by the receiving servers (and
    ``waiting`` more queued); returns their Message-IDs."""
    ids = [message_id(campaign, f"C{i}", "shop.test") for i in range(n + waiting)]
    store.enqueue((NewDelivery(campaign, f"C{i}", f"c{i}@example.com", not_before=0.0 if i < n else 9e9,
                               expires_at=1e12, message_id=mid) for i, mid in enumerate(ids)), now=0.0)  # fmt: skip
    leased = store.claim("w", now=1.0, limit=n).deliveries
    store.mark_sending_many([(d.id, d.message_id) for d in leased], "w", now=1.0)
    store.finish_many([(d.id, Outcome("sent", code=250)) for d in leased], "w", now=1.0)
    return ids[:n]


def maildir(tmp_path: Path, *messages: bytes) -> Path:
    box = mailbox.Maildir(tmp_path / "bounces")
    for data in messages:
        box.add(data)
    return tmp_path / "bounces"


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[tuple[str, Store, list[str]]]:
    store = open_store(tmp_path / "q.sqlite3")
    ids = sent(store, "autumn", 4)
    yield f"sqlite:{tmp_path / 'q.sqlite3'}", store, ids
    store.close()


def test_read_acts_on_each_message_and_marks_it_read(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     queue: tuple[str, Store, list[str]]) -> None:  # fmt: skip
    url, store, (c0, c1, c2, c3) = queue
    box = maildir(tmp_path, dsn("c0@example.com", c0, to=verp(c0)), arf("c1@example.com", c1, return_path=verp(c1)),
                  soft("c2@example.com", c2, to=verp(c2)), out_of_office("c3@example.com", to=verp(c3)),
                  dsn("c3@example.com", c3, to=None), b"Subject: hello\n\nnot a bounce\n")  # fmt: skip
    text = out(capsys, "bounces", "read", str(box), "--store", url)
    assert "suppressed (hard-bounce): C0 c***@example.com, campaign autumn: " in text
    assert "suppressed (complaint): C1 c***@example.com, campaign autumn: " in text
    assert "soft bounce counted: C2 c***@example.com, campaign autumn: " in text
    assert "names no message sent from here: a hard bounce about c***@example.com: " in text
    assert "c0@example.com" not in text and "c3@example.com" not in text
    assert "read 6 message(s): 2 hard, 1 soft, 1 complaint, 1 auto-reply, 1 not-feedback\n" in text
    assert ("2 suppressed (1 complaint, 1 hard-bounce); 1 soft bounce(s) counted; 2 naming no message sent from here; "
            "1 with nothing to do\n") in text  # fmt: skip
    assert {s.value: s.reason for s in store.suppressions()} == {"c0@example.com": "hard-bounce",
                                                                 "c1@example.com": "complaint"}  # fmt: skip
    assert len(store.feedback_events()) == 6
    assert "read 0 message(s)" in out(capsys, "bounces", "read", str(box), "--store", url)  # all marked read
    assert len(store.feedback_events()) == 6


def test_a_dry_run_writes_nothing_and_marks_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    queue: tuple[str, Store, list[str]]) -> None:  # fmt: skip
    url, store, (c0, *_) = queue
    box = maildir(tmp_path, dsn("c0@example.com", c0, to=verp(c0)))
    text = out(capsys, "bounces", "read", str(box), "--store", url, "--dry-run")
    assert "would be suppressed (hard-bounce): C0 c***@example.com" in text
    assert "1 would be suppressed (1 hard-bounce)" in text and text.endswith("no message was marked read\n")
    assert store.suppressions() == [] and store.feedback_events() == []
    assert "read 1 message(s)" in out(capsys, "bounces", "read", str(box), "--store", url)
    assert store.is_suppressed(address="c0@example.com")


def test_read_json_is_one_object_with_addresses_masked(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        queue: tuple[str, Store, list[str]]) -> None:  # fmt: skip
    url, _, (c0, *_) = queue
    box = maildir(tmp_path, dsn("c0@example.com", c0, to=verp(c0)), out_of_office("c9@example.com", to=verp(c0)))
    result = json.loads(out(capsys, "bounces", "read", str(box), "--store", url, "--json"))
    assert (result["read"], result["kinds"], result["dry_run"]) == (2, {"hard": 1, "auto-reply": 1}, False)
    assert result["outcomes"] == {"hard-bounce": 1, "ignored": 1} and result["unreadable"] == []
    (hard,) = [e for e in result["events"] if e["kind"] == "hard"]
    assert (hard["recipient"], hard["address"], hard["suppression"], hard["status"]) == (
        "C0", "c***@example.com", "hard-bounce", "5.1.1")  # fmt: skip


def test_a_file_that_cannot_be_read_exits_1_and_stays_for_the_next_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], queue: tuple[str, Store, list[str]]
) -> None:
    url, store, (c0, *_) = queue
    box = maildir(tmp_path, dsn("c0@example.com", c0, to=verp(c0)))
    (box / "new" / "1700000000.broken.host").symlink_to(tmp_path / "nowhere")
    capsys.readouterr()
    assert main(["bounces", "read", str(box), "--store", url]) == 1
    captured = capsys.readouterr()
    assert "1700000000.broken.host: the message file could not be read" in captured.err
    assert "1 file(s) could not be read; they stay in the Maildir" in captured.out
    assert store.is_suppressed(address="c0@example.com")  # the rest was read
    assert (box / "new" / "1700000000.broken.host").is_symlink()


@pytest.mark.parametrize("argv", [
    ["bounces", "read", "{tmp}"],  # not a Maildir
    ["bounces", "list", "--since", "last week"],
    ["bounces", "read", "{box}", "--soft-bounces", "0"],
    ["bounces", "list", "--kind", "bounce"],
])  # fmt: skip
def test_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    box = maildir(tmp_path)
    argv = [a.format(tmp=tmp_path, box=box) for a in argv] + ["--store", f"sqlite:{tmp_path / 'q.sqlite3'}"]
    assert main(argv) == 2
    assert "error" in capsys.readouterr().err


def test_read_without_the_projects_key_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.delenv("MAILER_SECRET")
    box = maildir(tmp_path)
    argv = ["bounces", "read", str(box), "--store", f"sqlite:{tmp_path / 'q.sqlite3'}", "--state-dir", str(tmp_path / "s")]
    assert main(argv) == 2
    assert "no link-signing key" in capsys.readouterr().err


def test_real_mail_that_names_no_message_of_ours_suppresses_nobody(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The whole corpus, not sent back to a VERP address: every address it
    names is a customer who was sent a message, and nobody is suppressed."""
    files = sorted(shared_path("bounces").glob("*/*.eml"))
    store = open_store(tmp_path / "q.sqlite3")
    try:
        addresses = sorted({a for p in files for a in parse_feedback(p.read_bytes()).addresses})
        store.enqueue([NewDelivery("autumn", f"C{i}", a, not_before=0.0, expires_at=1e12,
                                   message_id=message_id("autumn", f"C{i}", "shop.test")) for i, a in enumerate(addresses)],
                      now=0)  # fmt: skip
        box = maildir(tmp_path, *(p.read_bytes() for p in files))
        text = out(capsys, "bounces", "read", str(box), "--store", f"sqlite:{tmp_path / 'q.sqlite3'}")
        assert f"read {len(files)} message(s)" in text
        assert store.suppressions() == []
        assert {e.outcome for e in store.feedback_events()} <= {"unmatched", "ignored"}
    finally:
        store.close()


def test_list_shows_the_events_by_kind_and_time(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                queue: tuple[str, Store, list[str]]) -> None:  # fmt: skip
    url, store, (c0, c1, *_) = queue
    out(capsys, "bounces", "read", str(maildir(tmp_path, dsn("c0@example.com", c0, to=verp(c0)),
                                                soft("c1@example.com", c1, to=verp(c1)))), "--store", url)  # fmt: skip
    lines = out(capsys, "bounces", "list", "--store", url).splitlines()
    assert lines[0] == "time\tkind\toutcome\tcampaign\trecipient\taddress\tstatus\treason"
    assert lines[-1] == "2 event(s)"
    assert sorted(line.split("\t")[1:7] for line in lines[1:-1]) == [
        ["hard", "suppressed (hard-bounce)", "autumn", "C0", "c***@example.com", "5.1.1"],
        ["soft", "counted", "autumn", "C1", "c***@example.com", "5.2.2"]]  # fmt: skip
    rows = [json.loads(line) for line in out(capsys, "bounces", "list", "--store", url, "--kind", "soft", "--json").splitlines()]
    assert [(r["kind"], r["recipient"], r["address"]) for r in rows] == [("soft", "C1", "c***@example.com")]
    assert out(capsys, "bounces", "list", "--store", url, "--since", "2099-01-01T00:00Z") == (
        "time\tkind\toutcome\tcampaign\trecipient\taddress\tstatus\treason\n0 event(s)\n")
    assert out(capsys, "bounces", "list", "--store", url, "--since", "1h").endswith("2 event(s)\n")


def test_a_campaign_past_0_3_percent_is_paused_and_status_and_show_say_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:{tmp_path / 'q.sqlite3'}"
    store = open_store(url)
    ids = sent(store, "autumn", 1000, waiting=3)
    store.close()
    box = maildir(tmp_path, *(arf(f"c{i}@example.com", ids[i], return_path=verp(ids[i])) for i in range(4)))
    text = out(capsys, "bounces", "read", str(box), "--store", url)
    assert ("campaign autumn paused (3 waiting message(s) held): paused automatically: complaint rate 0.4% "
            "(4 of 1,000 delivered): above 0.3%") in text  # fmt: skip
    shown = out(capsys, "campaign", "show", "autumn", "--store", url)
    assert "  paused: paused automatically: complaint rate 0.4% (4 of 1,000 delivered): above 0.3%" in shown
    assert "warning: campaign autumn: complaint rate 0.4% (4 of 1,000 delivered)" in shown
    status = out(capsys, "status", "--store", url)
    assert "warning: sending domain shop.test: complaint rate 0.4%" in status
    assert "  paused: paused automatically" in status
    result = json.loads(out(capsys, "status", "--store", url, "--json"))
    assert [(r["scope"], r["level"]) for r in result["complaint_rates"]] == [("campaign", "pause"), ("domain", "pause")]
    assert result["campaigns"][0]["hold_reason"].startswith("paused automatically")


def test_a_campaign_past_0_1_percent_is_warned_about_not_paused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:{tmp_path / 'q.sqlite3'}"
    store = open_store(url)
    ids = sent(store, "autumn", 1000)
    store.close()
    box = maildir(tmp_path, *(arf(f"c{i}@example.com", ids[i], return_path=verp(ids[i])) for i in range(2)))
    assert "paused" not in out(capsys, "bounces", "read", str(box), "--store", url)
    shown = out(capsys, "campaign", "show", "autumn", "--store", url)
    assert shown.startswith("campaign autumn (active): ")
    assert ("warning: campaign autumn: complaint rate 0.2% (2 of 1,000 delivered): above 0.1%, "
            "the most Gmail and Yahoo allow bulk senders") in shown  # fmt: skip
    assert "warning: campaign autumn: complaint rate 0.2%" in out(capsys, "status", "--store", url)


def test_a_rate_over_too_little_mail_is_not_judged_and_status_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], queue: tuple[str, Store, list[str]]
) -> None:
    url, _, (c0, *_) = queue
    out(capsys, "bounces", "read", str(maildir(tmp_path, arf("c0@example.com", c0, return_path=verp(c0)))), "--store", url)
    status = out(capsys, "status", "--store", url)
    assert ("campaign autumn: complaint rate not judged: 1 complaint(s), 4 delivered, fewer than the 1,000 "
            "a rate is judged on") in status  # fmt: skip
    assert "warning" not in status

"""``mailer check`` and the check that ``mailer run`` makes first: a campaign
that would not send as it should is refused before anything is queued."""

from __future__ import annotations

import email
import email.policy
import shutil
from pathlib import Path

import pytest

from mailer.cli import main
from mailer.store import open_store
from tests.conftest import FIXTURES
from tests.test_cli_run import run_args


def campaign_copy(tmp_path: Path, **replace: str) -> Path:
    """The sample campaign in ``tmp_path`` (with its rates), with text replaced."""
    text = (FIXTURES / "campaign.toml").read_text(encoding="utf-8")
    for old, new in replace.items():
        old = old.replace("__", " ")
        assert old in text, old
        text = text.replace(old, new)
    shutil.copy(FIXTURES / "rates.csv", tmp_path / "rates.csv")
    path = tmp_path / "campaign.toml"
    path.write_text(text, encoding="utf-8")
    return path


def queued_rows(tmp_path: Path) -> int:
    path = tmp_path / "queue.sqlite3"
    if not path.exists():
        return 0
    store = open_store(path)
    try:
        return sum(store.counts().values())
    finally:
        store.close()


def with_option(args: list[str], option: str, value: str | None) -> list[str]:
    """``args`` with ``option``'s value replaced (``None``: the option left out)."""
    i = args.index(option)
    if value is None:
        return args[:i] + args[i + 2 :]
    return args[:i + 1] + [value] + args[i + 2 :]


def test_sample_campaign_checks_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["check", str(FIXTURES / "campaign.toml"), "--customers", str(FIXTURES / "customers.csv"),
            "--feed", str(FIXTURES / "products.xml"), "--state-dir", str(tmp_path / "state"),
            "--store", f"sqlite:{tmp_path / 'queue.sqlite3'}"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "checked 30 customer(s), 30 in the audience" in out and "is ready" in out
    # Skipped input rows are summed up by reason, with an example.
    assert "1 row(s) skipped" in out and "Europe/Londres" in out
    assert not (tmp_path / "queue.sqlite3").exists()  # a check creates no queue


def test_missing_feed_file_queues_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = with_option(run_args(tmp_path, "--no-quiet-hours"), "--feed", str(tmp_path / "nope.xml"))
    assert main(args) == 2
    assert "nope.xml" in capsys.readouterr().err
    assert queued_rows(tmp_path) == 0
    # The right feed afterwards sends everyone: nothing was failed for good.
    assert main(run_args(tmp_path, "--no-quiet-hours")) == 0
    assert open_store(tmp_path / "queue.sqlite3").counts() == {"sent": 30}


def test_empty_feed_queues_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("id,title,price,link,availability\n", encoding="utf-8")
    assert main(with_option(run_args(tmp_path, "--no-quiet-hours"), "--feed", str(empty))) == 2
    assert "no product could be read" in capsys.readouterr().err
    assert queued_rows(tmp_path) == 0


def test_sold_out_feed_is_an_empty_grid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    feed = tmp_path / "sold_out.csv"
    feed.write_text("id,title,price,link,availability\nA1,Scarf,10.00 EUR,https://shop.test/a1,out of stock\n",
                    encoding="utf-8")  # fmt: skip
    assert main(with_option(run_args(tmp_path, "--no-quiet-hours"), "--feed", str(feed))) == 2
    assert "slot group 'picks' gets no product" in capsys.readouterr().out
    assert queued_rows(tmp_path) == 0


def test_leaving_out_the_feed_is_refused_for_a_product_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(with_option(run_args(tmp_path, "--no-quiet-hours"), "--feed", None)) == 2
    assert "give --feed" in capsys.readouterr().out
    assert queued_rows(tmp_path) == 0


def test_misspelled_layout_queues_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = campaign_copy(tmp_path, **{'layout = "newsletter"': 'layout = "newsleter"'})
    args = run_args(tmp_path, "--no-quiet-hours")
    args[1] = str(path)
    assert main(args) == 2
    assert "no layout 'newsleter'" in capsys.readouterr().err
    assert queued_rows(tmp_path) == 0


def test_undefined_template_variable_queues_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = campaign_copy(tmp_path, **{"{{ recipient.first_name }}": "{{ recipient.nickname.upper() }}"})
    args = run_args(tmp_path, "--no-quiet-hours")
    args[1] = str(path)
    assert main(args) == 2
    out = capsys.readouterr().out
    assert "does not render" in out and "nickname" in out
    assert queued_rows(tmp_path) == 0
    # The rows planned while checking went, and so did the snapshot: fixed, it queues as it is now.
    assert open_store(tmp_path / "queue.sqlite3").get_campaign("autumn-newsletter-2026") is None
    path.write_text(path.read_text(encoding="utf-8").replace("{{ recipient.nickname.upper() }}", "{{ recipient.first_name }}"),
                    encoding="utf-8")  # fmt: skip
    assert main(args) == 0
    assert open_store(tmp_path / "queue.sqlite3").counts() == {"sent": 30}


@pytest.mark.parametrize("url", ["smpt://relay.shop.test:587", "smtp://relay.shop.test:notaport", "relay.shop.test"])
def test_mistyped_transport_queues_nothing(tmp_path: Path, url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(with_option(run_args(tmp_path, "--no-quiet-hours"), "--transport", url)) == 2
    assert "transport" in capsys.readouterr().err
    assert queued_rows(tmp_path) == 0


def test_missing_rate_is_found_before_queueing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    campaign_copy(tmp_path)
    rates = tmp_path / "rates.csv"
    rates.write_text("\n".join(line for line in rates.read_text().splitlines() if ",SEK," not in line) + "\n")
    args = run_args(tmp_path, "--no-quiet-hours")
    args[1] = str(tmp_path / "campaign.toml")
    assert main(args) == 2
    assert "SEK" in capsys.readouterr().out
    assert queued_rows(tmp_path) == 0


def test_dry_run_checks_and_queues_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(run_args(tmp_path, "--no-quiet-hours", "--dry-run")) == 0
    assert "nothing queued (--dry-run)" in capsys.readouterr().out
    assert queued_rows(tmp_path) == 0


def test_check_connect_reports_a_closed_port(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = ["check", str(FIXTURES / "campaign.toml"), "--customers", str(FIXTURES / "customers.csv"),
            "--feed", str(FIXTURES / "products.xml"), "--state-dir", str(tmp_path / "state"),
            "--transport", f"smtp://127.0.0.1:{port}", "--connect"]  # fmt: skip
    assert main(args) == 2
    assert f"cannot reach 127.0.0.1:{port}" in capsys.readouterr().out


# --- what is sent is what was checked -------------------------------------------------------------


def render_args(tmp_path: Path, campaign: Path, feed: Path, at: str) -> list[str]:
    return ["render", "--campaign", str(campaign), "--customers", str(FIXTURES / "customers.csv"),
            "--feed", str(feed), "--out", str(tmp_path / "preview"), "--state-dir", str(tmp_path / "state"),
            "--at", at]  # fmt: skip


def messages(folder: Path) -> dict[str, bytes]:
    out = {}
    for path in folder.glob("*.eml"):
        data = path.read_bytes()
        to = email.message_from_bytes(data, policy=email.policy.default)["To"]
        out[str(to)] = data
    return out


@pytest.mark.parametrize("strategy", [None, "first_in_stock", "personal"])
def test_edits_after_queueing_do_not_change_what_is_sent(tmp_path: Path, strategy: str | None) -> None:
    at = "2030-03-02T10:00:00+00:00"
    campaign = campaign_copy(tmp_path)
    feed = tmp_path / "products.xml"
    shutil.copy(FIXTURES / "products.xml", feed)
    extra = ["--strategy", strategy] if strategy else []
    if strategy == "personal":
        extra += ["--purchases", str(FIXTURES / "purchases.csv")]
    assert main(render_args(tmp_path, campaign, feed, at) + extra) == 0
    preview = messages(tmp_path / "preview")
    args = with_option(run_args(tmp_path, "--queue-only", "--no-quiet-hours", "--at", at, *extra), "--feed", str(feed))
    args[1] = str(campaign)
    assert main(args) == 0
    # After queueing: the subject is edited, every price in the feed changes, a layout is edited.
    campaign.write_text(campaign.read_text(encoding="utf-8").replace("New in for you", "LAST CHANCE"), encoding="utf-8")
    feed.write_text(feed.read_text(encoding="utf-8").replace("<g:price>", "<g:price>1"), encoding="utf-8")
    # The rows are due in 2030: render them as the worker does, from a fresh renderer.
    from mailer.sending.delivery import CampaignRenderer

    store = open_store(tmp_path / "queue.sqlite3")
    renderer = CampaignRenderer(store)
    sent = {}
    for row in store.deliveries():
        data = renderer(row).data
        sent[str(email.message_from_bytes(data, policy=email.policy.default)["To"])] = data
    renderer.close()
    store.close()
    assert len(sent) == len(preview) == 30
    assert sent == preview


def test_date_is_the_planned_instant_not_the_campaign_send_date(tmp_path: Path) -> None:
    at = "2030-03-02T10:00:00+00:00"
    assert main(run_args(tmp_path, "--no-quiet-hours", "--queue-only", "--at", at)) == 0
    # Due in 2030: render the row as the worker will.
    from mailer.sending.delivery import CampaignRenderer

    opened = open_store(tmp_path / "queue.sqlite3")
    row = opened.deliveries()[0]
    data = CampaignRenderer(opened)(row).data
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert message["Date"].datetime.isoformat() == at


def test_run_from_a_subdirectory_uses_the_same_project_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import ROOT

    for name in ("MAILER_STORE", "MAILER_TRANSPORT", "MAILER_STATE_DIR", "MAILER_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "mailer.toml").write_text(f'layouts = "{ROOT / "layouts"}"\nlocales = "{ROOT / "locales"}"\n')
    (tmp_path / "campaigns" / "deep").mkdir(parents=True)
    args = ["run", str(FIXTURES / "campaign.toml"), "--customers", str(FIXTURES / "customers.csv"),
            "--feed", str(FIXTURES / "products.xml"), "--no-quiet-hours"]  # fmt: skip
    monkeypatch.chdir(tmp_path)
    assert main(args) == 0
    monkeypatch.chdir(tmp_path / "campaigns" / "deep")
    assert main(args) == 0
    assert "queued 0 message(s)" in capsys.readouterr().out
    assert len(list((tmp_path / ".mailer" / "outbox").glob("*.eml"))) == 30
    assert not (tmp_path / "campaigns" / "deep" / ".mailer").exists()
    assert open_store(tmp_path / ".mailer" / "queue.sqlite3").counts() == {"sent": 30}


@pytest.mark.parametrize(("caps", "second_sent"), [("", 0), ("[caps]\n", 30), ("[caps]\ndaily = 2\n", 30)])
def test_frequency_caps_come_from_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caps: str, second_sent: int
) -> None:
    """The default caps allow one promotion a day; mailer.toml's [caps] sets them (an empty table: none)."""
    from tests.conftest import ROOT

    for name in ("MAILER_STORE", "MAILER_TRANSPORT", "MAILER_STATE_DIR", "MAILER_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "mailer.toml").write_text(f'layouts = "{ROOT / "layouts"}"\nlocales = "{ROOT / "locales"}"\n{caps}')
    monkeypatch.chdir(tmp_path)
    for campaign_id in ("first", "second"):
        path = campaign_copy(tmp_path, **{'id = "autumn-newsletter-2026"': f'id = "{campaign_id}"'})
        path.rename(tmp_path / f"{campaign_id}.toml")
        assert main(["run", str(tmp_path / f"{campaign_id}.toml"), "--customers", str(FIXTURES / "customers.csv"),
                     "--feed", str(FIXTURES / "products.xml"), "--no-quiet-hours", "--queue-only"]) == 0  # fmt: skip
    assert main(["worker", "--store", f"sqlite:{tmp_path / '.mailer' / 'queue.sqlite3'}", "--until-idle",
                 "--transport", f"outbox:{tmp_path / 'outbox'}"]) in (0, 1)  # fmt: skip
    store = open_store(tmp_path / ".mailer" / "queue.sqlite3")
    assert store.counts("first").get("sent") == 30
    assert store.counts("second").get("sent", 0) == second_sent


def test_a_campaigns_own_caps_apply_when_it_is_planned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import ROOT

    for name in ("MAILER_STORE", "MAILER_TRANSPORT", "MAILER_STATE_DIR", "MAILER_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "mailer.toml").write_text(f'layouts = "{ROOT / "layouts"}"\nlocales = "{ROOT / "locales"}"\n[caps]\n')
    monkeypatch.chdir(tmp_path)
    for campaign_id, caps in (("first", ""), ("second", "\n[caps]\nweekly = 1\n")):
        path = campaign_copy(tmp_path, **{'id = "autumn-newsletter-2026"': f'id = "{campaign_id}"'})
        path.write_text(path.read_text(encoding="utf-8") + caps, encoding="utf-8")
        path.rename(tmp_path / f"{campaign_id}.toml")
        assert main(["run", str(tmp_path / f"{campaign_id}.toml"), "--customers", str(FIXTURES / "customers.csv"),
                     "--feed", str(FIXTURES / "products.xml"), "--no-quiet-hours", "--on-cap", "drop"]) == 0  # fmt: skip
    assert "queued 0 message(s) for campaign 'second'; 30 capped" in capsys.readouterr().out
    store = open_store(tmp_path / ".mailer" / "queue.sqlite3")
    assert store.counts("first") == {"sent": 30} and store.counts("second") == {}


def test_a_bad_caps_table_names_the_campaign_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = campaign_copy(tmp_path)
    path.write_text(path.read_text(encoding="utf-8") + "\n[caps]\nhourly = 1\n", encoding="utf-8")
    args = run_args(tmp_path, "--no-quiet-hours")
    args[1] = str(path)
    assert main(args) == 2
    assert f"{path}: caps.hourly: unknown key" in capsys.readouterr().err


def test_worker_and_status_from_a_subfolder_use_the_projects_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import ROOT

    for name in ("MAILER_STORE", "MAILER_TRANSPORT", "MAILER_STATE_DIR", "MAILER_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "mailer.toml").write_text(f'layouts = "{ROOT / "layouts"}"\nlocales = "{ROOT / "locales"}"\n')
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(FIXTURES / "campaign.toml"), "--customers", str(FIXTURES / "customers.csv"),
                 "--feed", str(FIXTURES / "products.xml"), "--no-quiet-hours", "--queue-only"]) == 0  # fmt: skip
    monkeypatch.chdir(tmp_path / "sub")
    assert main(["worker", "--until-idle"]) == 0
    assert "worker: 30 sent" in capsys.readouterr().out
    assert main(["status", "--json"]) == 0
    assert '"sent": 30' in capsys.readouterr().out
    assert not (tmp_path / "sub" / ".mailer").exists()
    assert len(list((tmp_path / ".mailer" / "outbox").glob("*.eml"))) == 30


def test_render_of_a_queued_campaign_shows_what_it_was_queued_with(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    at = "2030-03-02T10:00:00+00:00"
    campaign = campaign_copy(tmp_path)
    args = run_args(tmp_path, "--queue-only", "--no-quiet-hours", "--at", at)
    args[1] = str(campaign)
    assert main(args) == 0
    campaign.write_text(campaign.read_text(encoding="utf-8").replace("New in for you", "EDITED"), encoding="utf-8")
    capsys.readouterr()
    assert main(render_args(tmp_path, campaign, FIXTURES / "products.xml", at)
                + ["--store", f"sqlite:{tmp_path / 'queue.sqlite3'}"]) == 0  # fmt: skip
    assert "is queued already" in capsys.readouterr().out
    subjects = {str(email.message_from_bytes(data, policy=email.policy.default)["Subject"])
                for data in messages(tmp_path / "preview").values()}  # fmt: skip
    assert subjects and not any("EDITED" in s for s in subjects)


def test_customers_can_come_from_standard_input(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT

    done = subprocess.run(
        [sys.executable, "-m", "mailer", "check", str(FIXTURES / "campaign.toml"), "--customers", "-",
         "--feed", str(FIXTURES / "products.xml"), "--state-dir", str(tmp_path / "state")],
        input=(FIXTURES / "customers.csv").read_bytes(), capture_output=True, cwd=tmp_path, timeout=120,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert b"checked 30 customer(s)" in done.stdout and b"transport" not in done.stdout


def test_a_latin_1_customers_file_is_read_with_encoding_and_hinted_without(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    latin = tmp_path / "customers.csv"
    latin.write_bytes((FIXTURES / "customers.csv").read_text(encoding="utf-8").encode("latin-1", errors="replace"))
    args = ["check", str(FIXTURES / "campaign.toml"), "--customers", str(latin), "--feed", str(FIXTURES / "products.xml"),
            "--state-dir", str(tmp_path / "state")]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    lost = int(out.split("checked ")[1].split(" ")[0])
    assert lost < 30 and "--encoding latin-1" in out
    assert main([*args, "--encoding", "latin-1"]) == 0
    assert "checked 30 customer(s)" in capsys.readouterr().out


def test_an_unreadable_customers_file_leaves_no_campaign_behind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = with_option(run_args(tmp_path, "--no-quiet-hours"), "--customers", str(tmp_path / "nope.csv"))
    assert main(args) == 2
    assert "nope.csv" in capsys.readouterr().err
    store = open_store(tmp_path / "queue.sqlite3")
    assert store.counts() == {} and store.get_campaign("autumn-newsletter-2026") is None
    store.close()
    # A later run with other content is not told the campaign was queued before.
    path = campaign_copy(tmp_path, **{"New in for you": "Fresh for you"})
    args = run_args(tmp_path, "--no-quiet-hours")
    args[1] = str(path)
    assert main(args) == 0
    assert "queued already" not in capsys.readouterr().out

"""mailer.web.preferences: the volume dial behind every email's preferences link."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import datetime, timezone
from pathlib import Path

from mailer.sending.delivery import queue_campaign
from mailer.sending.plan import At
from mailer.store import open_store
from mailer.tokens import Signer
from mailer.web.unsubscribe import UnsubscribeApp, call
from tests.conftest import prepared_sample

UTC = timezone.utc


def preferences_path(tmp_path: Path) -> tuple[str, Signer]:
    """The path of the preferences link in a real message of the sample campaign."""
    from mailer.inputs.customers import iter_customers
    from mailer.tokens import load_signing_key
    from tests.conftest import FIXTURES

    customer = next(iter(iter_customers(FIXTURES / "customers.csv")))
    with prepared_sample(tmp_path / "state") as prepared:
        message = prepared.compose(next(prepared.choices([customer])))
    body = email.message_from_bytes(message.data, policy=email.policy.default).get_body(("plain",))
    assert body is not None
    (link,) = re.findall(r"https://\S+/email/preferences/\S+?(?=[>\s])", body.get_content())
    return "/" + link.split("/", 3)[3], Signer(load_signing_key(state_dir=tmp_path / "state"))


def test_the_preferences_link_in_an_email_sets_the_volume_dial(tmp_path: Path) -> None:
    path, signer = preferences_path(tmp_path)
    store = open_store(tmp_path / "q.sqlite3")
    app = UnsubscribeApp(store, signer)
    status, page = call(app, "GET", path)
    assert status == "200 OK" and b'value="everything" checked' in page
    status, page = call(app, "POST", path, b"volume=weekly")
    assert status == "200 OK" and b"At most one email a week" in page
    assert store.volume("C0001") == "weekly" and not store.is_suppressed(recipient="C0001")


def test_the_dial_then_holds_at_planning(tmp_path: Path) -> None:
    path, signer = preferences_path(tmp_path)
    store = open_store(tmp_path / "q.sqlite3")
    call(UnsubscribeApp(store, signer), "POST", path, b"volume=only-important")
    from mailer.inputs.customers import iter_customers
    from tests.conftest import FIXTURES

    with prepared_sample(tmp_path / "state") as prepared:
        queued = queue_campaign(store, prepared, list(iter_customers(FIXTURES / "customers.csv"))[:2],
                                rule=At(datetime(2030, 1, 1, 12, tzinfo=UTC)), quiet=None, on_cap="drop")  # fmt: skip
    assert (queued.added, queued.capped) == (1, 1)


def test_a_get_changes_nothing_and_a_bad_choice_or_token_is_refused(tmp_path: Path) -> None:
    path, signer = preferences_path(tmp_path)
    store = open_store(tmp_path / "q.sqlite3")
    app = UnsubscribeApp(store, signer)
    call(app, "GET", path + "?volume=monthly")
    assert store.volume("C0001") == "everything"
    assert call(app, "POST", path, b"volume=never")[0] == "400 Bad Request"
    assert call(app, "POST", path.rsplit("/", 1)[0] + "/forged", b"volume=weekly")[0] == "400 Bad Request"
    assert call(app, "PUT", path)[0] == "405 Method Not Allowed"
    assert store.volume("C0001") == "everything"

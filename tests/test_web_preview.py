"""The preview page's HTTP API, over real HTTP against a threaded server."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from mailer.preview import Preview
from mailer.project import resolve
from mailer.tokens import Signer
from mailer.web.preview import PreviewApp, serve
from tests.conftest import copy_project

CAMPAIGN = "fixtures/campaign.toml"


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project(tmp_path_factory.mktemp("web-preview") / "shop")


@pytest.fixture(scope="module")
def base(project_dir: Path) -> Iterator[str]:
    preview = Preview(resolve(cwd=project_dir, environ={}), customers=project_dir / "fixtures/customers.csv",
                      feed=project_dir / "fixtures/products.xml", signer=Signer(b"k" * 32))
    app = PreviewApp(preview, transport=f"outbox:{project_dir / 'tests-outbox'}", seeds=("seed@shop.test",),
                     start=CAMPAIGN)  # fmt: skip
    stop, ready, urls = threading.Event(), threading.Event(), []

    def started(url: str) -> None:
        urls.append(url)
        ready.set()

    thread = threading.Thread(target=serve, args=(app,), kwargs={"port": 0, "ready": started, "stop": stop})
    thread.start()
    assert ready.wait(10)
    yield urls[0]
    stop.set()
    thread.join(10)
    preview.close()


def call(url: str, data: Any = None, method: str | None = None) -> tuple[int, dict[str, str], Any]:
    body = json.dumps(data).encode() if data is not None and not isinstance(data, bytes) else data
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"Content-Type": "application/json"} if body else {})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw, status, headers = response.read(), response.status, dict(response.headers)
    except urllib.error.HTTPError as err:
        raw, status, headers = err.read(), err.code, dict(err.headers)
    kind = headers.get("Content-Type", "")
    return status, headers, json.loads(raw) if kind.startswith("application/json") else raw


def test_the_project_lists_campaigns_layouts_and_the_campaign_to_open(base: str) -> None:
    status, _, answer = call(base + "api/project")
    assert status == 200
    assert {"newsletter", "welcome", "winback"} <= set(answer["layouts"])
    assert CAMPAIGN in [c["file"] for c in answer["campaigns"]]
    assert answer["default"]["campaign"] == CAMPAIGN
    assert "da_DK" in answer["locales"] and "DKK" in answer["currencies"]
    assert answer["seeds"] == ["seed@shop.test"]


def test_render_answers_the_documented_fields(base: str) -> None:
    status, _, answer = call(base + "api/render?" + urlencode({"campaign": CAMPAIGN, "customer": "C0009"}))
    assert status == 200
    for name in ("subject", "html", "text", "headers", "size", "warnings"):
        assert name in answer
    assert answer["subject"].startswith("Nyt til dig") and answer["size"] == len(answer["html"].encode())
    assert all({"rule", "message"} <= set(w) for w in answer["warnings"])


@pytest.mark.parametrize("query, status", [
    ({"campaign": CAMPAIGN}, 400),
    ({"campaign": CAMPAIGN, "customer": "NOPE"}, 404),
    ({"layout": "nope", "customer": "C0001"}, 404),
    ({"campaign": CAMPAIGN, "customer": "C0001", "currency": "XYZ"}, 400),
])
def test_bad_requests_are_answered_with_a_status_and_a_message(base: str, query: dict[str, str], status: int) -> None:
    got, _, answer = call(base + "api/render?" + urlencode(query))
    assert got == status and answer["message"]


def test_a_layout_error_is_422_with_file_line_and_message(base: str, project_dir: Path) -> None:
    layout = project_dir / "layouts/winback.mjml"
    original = layout.read_text(encoding="utf-8")
    lines = original.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if "<mj-text" in line) + 1
    layout.write_text("".join(lines[:at] + ["{% for x in %}{% endfor %}\n"] + lines[at:]), encoding="utf-8")
    try:
        status, _, answer = call(base + "api/render?" + urlencode({"layout": "winback", "customer": "C0001"}))
        assert status == 422
        assert answer["file"] == "layouts/winback.mjml" and answer["line"] == at + 1 and answer["message"]
    finally:
        layout.write_text(original, encoding="utf-8")
    status, _, _ = call(base + "api/render?" + urlencode({"layout": "winback", "customer": "C0001"}))
    assert status == 200


def test_changes_answers_when_a_file_is_saved(base: str, project_dir: Path) -> None:
    _, _, project = call(base + "api/project")
    partial = next((project_dir / "layouts/partials").glob("*.mjml"))
    timer = threading.Timer(0.3, lambda: partial.write_text(partial.read_text(encoding="utf-8") + " ",
                                                            encoding="utf-8"))  # fmt: skip
    started = time.monotonic()
    timer.start()
    status, _, answer = call(base + "api/changes?" + urlencode({"since": project["version"], "timeout": 10}))
    assert status == 200 and answer["version"] != project["version"]
    assert time.monotonic() - started < 1.5


def test_compare_answers_one_render_per_customer(base: str) -> None:
    status, _, answer = call(base + "api/compare?" + urlencode({"campaign": CAMPAIGN,
                                                                "customers": "C0001,C0009,C0010,C0005"}))  # fmt: skip
    assert status == 200 and len(answer["renders"]) == 4
    assert [r["customer"]["id"] for r in answer["renders"]] == ["C0001", "C0009", "C0010", "C0005"]


def test_a_test_send_goes_to_the_seed_list(base: str, project_dir: Path) -> None:
    status, _, answer = call(base + "api/send-test", {"campaign": CAMPAIGN, "customer": "C0009", "seeds": True,
                                                      "to": "designer@shop.test"})  # fmt: skip
    assert status == 200 and answer["sent"] == ["designer@shop.test", "seed@shop.test"]
    assert len(list((project_dir / "tests-outbox").glob("*.eml"))) == 2


def test_send_test_takes_only_post_and_json(base: str) -> None:
    assert call(base + "api/send-test")[0] == 405
    status, _, answer = call(base + "api/send-test", b"not json", method="POST")
    assert status == 400 and "JSON" in answer["message"]


def test_the_page_and_its_files_are_served_with_a_strict_policy(base: str) -> None:
    status, headers, page = call(base)
    assert status == 200 and b"<html" in page.lower()
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert call(base + "static/preview.js")[0] == 200
    assert call(base + "static/../preview.py")[0] == 404
    assert call(base + "api/nothing")[0] == 404

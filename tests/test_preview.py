"""The preview: campaigns and layouts rendered for chosen customers from the project's files as they are now."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from pathlib import Path

import pytest

from mailer.errors import ConfigError, LayoutError
from mailer.preview import CUSTOMER_LIMIT, Preview, PreviewError
from mailer.project import resolve
from mailer.tokens import Signer
from tests.conftest import copy_project

CAMPAIGN = "fixtures/campaign.toml"


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "shop")


@pytest.fixture
def preview(project_dir: Path) -> Preview:
    made = Preview(resolve(cwd=project_dir, environ={}), customers=project_dir / "fixtures/customers.csv",
                   feed=project_dir / "fixtures/products.xml", purchases=project_dir / "fixtures/purchases.csv",
                   signer=Signer(b"k" * 32))
    yield made
    made.close()


def test_a_customer_gets_the_campaign_in_their_language_and_currency(preview: Preview) -> None:
    rendering = preview.render(customer="C0009", campaign=CAMPAIGN)
    assert rendering.customer.locale == "da_DK"
    assert rendering.message.subject.startswith("Nyt til dig")
    assert "kr." in rendering.message.html
    assert "Afmeld" in rendering.message.html
    assert rendering.size == len(rendering.message.html.encode("utf-8"))
    assert rendering.products["picks"] and all(p["reason"] for p in rendering.products["picks"])


def test_the_locale_and_currency_can_be_overridden(preview: Preview) -> None:
    rendering = preview.render(customer="C0009", campaign=CAMPAIGN, locale="de_DE", currency="CHF")
    assert rendering.customer.locale == "de_DE" and rendering.customer.currency == "CHF"
    assert rendering.message.subject.startswith("Neu für dich")
    assert "CHF" in rendering.message.html


def test_the_answer_has_the_api_fields(preview: Preview) -> None:
    answer = preview.render(customer="C0001", campaign=CAMPAIGN).to_json()
    assert {"subject", "html", "text", "headers", "size", "warnings", "raw", "products", "version"} <= set(answer)
    assert ["To", "Olivia Bennett <olivia.bennett@example.co.uk>"] in answer["headers"]
    assert answer["raw"].startswith("From: ")


def test_a_layout_alone_renders_with_a_placeholder_campaign(preview: Preview) -> None:
    rendering = preview.render(customer="C0001", layout="welcome")
    assert rendering.layout == "welcome" and rendering.campaign is None


@pytest.mark.parametrize("request_, status", [
    ({"customer": "NOPE", "campaign": CAMPAIGN}, 404),
    ({"customer": "C0001", "campaign": "fixtures/nope.toml"}, 404),
    ({"customer": "C0001", "layout": "nope"}, 404),
    ({"customer": "C0001", "campaign": CAMPAIGN, "locale": "xx_QQ"}, 400),
    ({"customer": "C0001", "campaign": CAMPAIGN, "currency": "ABC"}, 400),
])
def test_what_does_not_exist_is_a_clear_error(preview: Preview, request_: dict[str, str], status: int) -> None:
    with pytest.raises(PreviewError) as caught:
        preview.render(**request_)
    assert caught.value.status == status


def test_a_broken_template_names_its_file_and_line_and_the_preview_recovers(preview: Preview, project_dir: Path) -> None:
    layout = project_dir / "layouts/newsletter.mjml"
    original = layout.read_text(encoding="utf-8")
    lines = original.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if "<mj-body" in line) + 1
    layout.write_text("".join(lines[:at] + ["{{ recipient.first_name | }}\n"] + lines[at:]), encoding="utf-8")
    status, answer = preview.render_json(customer="C0001", campaign=CAMPAIGN)
    assert status == 422 and answer["error"] == "layout"
    assert answer["file"] == "layouts/newsletter.mjml"
    assert answer["line"] == at + 1
    layout.write_text(original, encoding="utf-8")
    status, answer = preview.render_json(customer="C0001", campaign=CAMPAIGN)
    assert status == 200 and answer["subject"]


def test_saving_a_layout_changes_the_version_and_the_next_render(preview: Preview, project_dir: Path) -> None:
    before = preview.version()
    preview.render(customer="C0001", campaign=CAMPAIGN)
    layout = project_dir / "layouts/newsletter.mjml"
    layout.write_text(layout.read_text(encoding="utf-8").replace(
        "</mj-body>", "<mj-section><mj-column><mj-text>Fresh words</mj-text></mj-column></mj-section></mj-body>"),
        encoding="utf-8")  # fmt: skip
    assert preview.version() != before
    assert "Fresh words" in preview.render(customer="C0001", campaign=CAMPAIGN).message.html


def test_waiting_for_a_change_returns_soon_after_a_save(preview: Preview, project_dir: Path) -> None:
    version = preview.version()
    catalog = project_dir / "locales/da/LC_MESSAGES/messages.po"
    timer = threading.Timer(0.3, lambda: catalog.write_text(catalog.read_text(encoding="utf-8") + "\n",
                                                            encoding="utf-8"))  # fmt: skip
    started = time.monotonic()
    timer.start()
    changed = preview.wait_for_change(version, timeout=10)
    assert changed != version and time.monotonic() - started < 1.5


def test_waiting_without_a_change_times_out_with_the_same_version(preview: Preview) -> None:
    version = preview.version()
    assert preview.wait_for_change(version, timeout=0.3) == version


def test_only_a_layout_change_keeps_the_fitted_personalisation(preview: Preview, project_dir: Path) -> None:
    first = preview.prepared(CAMPAIGN)
    fitted = first.personalisation
    layout = project_dir / "layouts/newsletter.mjml"
    layout.write_text(layout.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    again = preview.prepared(CAMPAIGN)
    assert again is not first
    assert again.personalisation is fitted or fitted is None


def test_search_matches_id_name_and_address_in_any_case(preview: Preview) -> None:
    found, total = preview.search("FREJA")
    assert total == 1 and found[0].id == "C0009"
    assert preview.search("example.co.uk", limit=2)[1] > 2 and len(preview.search("example.co.uk", limit=2)[0]) == 2
    assert preview.search("C0001")[0][0].name == "Olivia Bennett"


def test_picks_give_a_customer_per_segment_market_and_programme_step(preview: Preview) -> None:
    picks = preview.picks(campaign=CAMPAIGN)
    segments = {pick["label"] for pick in picks["segments"]}
    assert len(segments) >= 3 and segments <= {"prospect", "new", "lapsed", "champions", "loyal", "at_risk", "regular"}
    markets = {pick["label"] for pick in picks["markets"]}
    assert "da_DK · DKK" in markets and "ja_JP · JPY" in markets
    steps = {step["label"]: step for step in picks["steps"]}
    assert steps["welcome: welcome-1 (day 0)"]["campaign"] == "fixtures/programmes/welcome-1.toml"


def test_the_picker_keeps_at_most_the_limit(preview: Preview, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mailer.preview.CUSTOMER_LIMIT", 5)
    assert CUSTOMER_LIMIT > 5
    assert len(preview.customers()) == 5 and preview.customers_truncated


def test_compare_renders_up_to_four_customers(preview: Preview) -> None:
    answers = preview.compare(["C0001", "C0009", "C0010", "NOPE"], campaign=CAMPAIGN)
    assert [status for status, _ in answers] == [200, 200, 200, 404]
    assert len({answer["locale"] for _, answer in answers[:3]}) == 3
    with pytest.raises(PreviewError):
        preview.compare(["C0001"] * 5, campaign=CAMPAIGN)


def test_a_test_send_goes_to_the_address_and_is_not_queued(preview: Preview, project_dir: Path) -> None:
    outbox = project_dir / "test-outbox"
    sent = preview.send_test(to=["designer@shop.test"], customer="C0009", campaign=CAMPAIGN,
                             transport=f"outbox:{outbox}")  # fmt: skip
    assert sent == ["designer@shop.test"]
    [message] = list(outbox.glob("*.eml"))
    parsed = email.message_from_bytes(message.read_bytes(), policy=email.policy.default)
    assert parsed["To"].addresses[0].addr_spec == "designer@shop.test"
    assert parsed["To"].addresses[0].display_name.startswith("Freja")
    assert not (project_dir / ".mailer/queue.sqlite3").exists()


def test_a_test_send_refuses_what_is_not_an_address(preview: Preview, project_dir: Path) -> None:
    with pytest.raises(PreviewError, match="not an e-mail address"):
        preview.send_test(to=["designer at shop"], customer="C0009", campaign=CAMPAIGN,
                          transport=f"outbox:{project_dir / 'o'}")  # fmt: skip


def test_a_missing_customers_file_is_an_error(project_dir: Path) -> None:
    with pytest.raises(ConfigError, match="no such customers file"):
        Preview(resolve(cwd=project_dir, environ={}), customers=project_dir / "nope.csv", signer=Signer(b"k" * 32))


def test_an_unknown_mjml_tag_is_an_error_finding(preview: Preview, project_dir: Path) -> None:
    layout = project_dir / "layouts/newsletter.mjml"
    layout.write_text(layout.read_text(encoding="utf-8").replace(
        "</mj-body>", "<mj-section><mj-column><mj-txt>Lost</mj-txt></mj-column></mj-section></mj-body>"),
        encoding="utf-8")  # fmt: skip
    findings = preview.render(customer="C0001", campaign=CAMPAIGN).findings
    [unknown] = [f for f in findings if f.rule == "mjml-unknown-tag"]
    assert unknown.severity == "error" and unknown.path == "layouts/newsletter.mjml" and unknown.line


def test_a_language_without_a_catalog_is_flagged_untranslated(preview: Preview) -> None:
    findings = preview.render(customer="C0001", campaign=CAMPAIGN, locale="nl_NL").findings
    assert any(f.rule == "untranslated" for f in findings)
    assert not any(f.rule == "untranslated" for f in preview.render(customer="C0009", campaign=CAMPAIGN).findings)


def test_a_layout_error_is_a_layout_error(preview: Preview, project_dir: Path) -> None:
    (project_dir / "layouts/newsletter.mjml").write_text("<mjml><mj-body>{{ </mj-body></mjml>", encoding="utf-8")
    with pytest.raises(LayoutError):
        preview.render(customer="C0001", campaign=CAMPAIGN)



def test_lint_ignore_leaves_out_rules_the_project_accepts(project_dir: Path) -> None:
    (project_dir / "mailer.toml").write_text((project_dir / "mailer.toml").read_text() + 'lint_ignore = ["untranslated"]\n')
    preview = Preview(resolve(cwd=project_dir, environ={}), customers=project_dir / "fixtures/customers.csv",
                      feed=project_dir / "fixtures/products.xml", signer=Signer(b"k" * 32))
    try:
        findings = preview.render(customer="C0001", campaign=CAMPAIGN, locale="nl_NL").findings
        assert not any(f.rule == "untranslated" for f in findings)
    finally:
        preview.close()


def test_client_support_findings_come_from_caniemail_and_can_be_ignored(project_dir: Path) -> None:
    from tests.conftest import shared_path

    data = shared_path("caniemail/caniemail.json")
    project = resolve(cwd=project_dir, environ={})
    preview = Preview(project, customers=project_dir / "fixtures/customers.csv", caniemail=data,
                      feed=project_dir / "fixtures/products.xml", signer=Signer(b"k" * 32))  # fmt: skip
    support = [f for f in preview.render(customer="C0001", campaign=CAMPAIGN).findings if f.rule == "client-support"]
    assert any("@media" in f.message and f.clients for f in support)
    preview.close()
    (project_dir / "mailer.toml").write_text((project_dir / "mailer.toml").read_text() + 'lint_ignore = ["css-at-media"]\n')
    preview = Preview(resolve(cwd=project_dir, environ={}), customers=project_dir / "fixtures/customers.csv",
                      caniemail=data, feed=project_dir / "fixtures/products.xml", signer=Signer(b"k" * 32))  # fmt: skip
    support = [f for f in preview.render(customer="C0001", campaign=CAMPAIGN).findings if f.rule == "client-support"]
    assert support and not any("@media" in f.message for f in support)
    preview.close()


def test_products_show_the_price_as_the_email_does_and_the_customer_as_the_file_has_them(preview: Preview) -> None:
    answer = preview.render(customer="C0022", campaign=CAMPAIGN, locale="da_DK").to_json()
    assert answer["locale"] == "da_DK" and answer["customer"]["locale"] == "fr_CH"
    prices = [p["price"] for p in answer["products"]["picks"]]
    assert prices and all("CHF" in price for price in prices)
    assert all(price in answer["html"] for price in prices)


def test_campaign_titles_are_their_subject_without_template_tags(preview: Preview) -> None:
    titles = {c["file"]: c["title"] for c in preview.summary()["campaigns"]}
    assert titles[CAMPAIGN] == "New in for you"


def test_a_layout_alone_converts_prices_with_a_campaigns_rates(preview: Preview) -> None:
    rendering = preview.render(customer="C0008", layout="newsletter")
    assert rendering.customer.currency == "DKK" and "kr." in rendering.message.html


def test_a_finding_in_the_html_points_at_the_layout_line_that_wrote_it(preview: Preview, project_dir: Path) -> None:
    layout = project_dir / "layouts/welcome.mjml"
    lines = layout.read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if "</mj-body>" in line)
    lines.insert(at, '<mj-section><mj-column><mj-button href="http://shop.test/insecure-sale">Sale</mj-button>'
                     "</mj-column></mj-section>\n")  # fmt: skip
    layout.write_text("".join(lines), encoding="utf-8")
    findings = preview.render(customer="C0001", layout="welcome").findings
    [insecure] = [f for f in findings if f.rule == "https-links"]
    assert (insecure.path, insecure.line) == ("layouts/welcome.mjml", at + 1)
    assert "rendered HTML line" in insecure.message


def test_without_purchases_each_programme_step_still_has_a_customer(project_dir: Path) -> None:
    preview = Preview(resolve(cwd=project_dir, environ={}), customers=project_dir / "fixtures/customers.csv",
                      feed=project_dir / "fixtures/products.xml", signer=Signer(b"k" * 32))
    try:
        picks = preview.picks(campaign=CAMPAIGN)
        assert picks["segments"] == [] and picks["steps"]
        assert all(step["customer"]["id"] == "C0001" for step in picks["steps"])
    finally:
        preview.close()


def test_a_block_never_closed_is_reported_where_it_opens(preview: Preview, project_dir: Path) -> None:
    layout = project_dir / "layouts/newsletter.mjml"
    lines = layout.read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if "<mj-body" in line) + 1
    layout.write_text("".join(lines[:at] + ["{% if recipient.first_name %}\n"] + lines[at:]), encoding="utf-8")
    status, answer = preview.render_json(customer="C0001", campaign=CAMPAIGN)
    assert status == 422
    assert (answer["file"], answer["line"]) == ("layouts/newsletter.mjml", at + 1)
    assert "{% if %} is never closed" in answer["message"]

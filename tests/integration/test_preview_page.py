"""The preview page in a real browser: Debian's Chromium driven by Playwright,
against a real ``mailer preview`` serving a copy of this repository's project.

One server and one browser tab serve the whole module; each test opens the
page afresh. Tests that edit a layout put it back when they end. Screenshots go to
``$MAILER_TEST_OUTPUT`` (default ``test-output/preview/``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import ROOT
from tests.integration.preview_server import PreviewServer, copy_project

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"the preview page's browser tests need Debian's chromium at {CHROMIUM}", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the preview page's browser tests need Playwright")
expect = sync_api.expect

NEWSLETTER = "layouts/newsletter.mjml"
RENDER_TIMEOUT = 15_000  # ms: the first render of a campaign prepares it
LIVE_TIMEOUT = 10_000  # ms: the server looks for changed files every 0.2 s
VIEWPORT = {"width": 1600, "height": 1000}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PreviewServer]:
    project = copy_project(tmp_path_factory.mktemp("preview") / "project")
    with PreviewServer(project, "--customers", "fixtures/customers.csv", "--feed", "fixtures/products.xml",
                       "fixtures/campaign.toml") as running:  # fmt: skip
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def tab(browser: Any) -> Iterator[tuple[Any, list[str]]]:
    """One browser tab for the module (a new one per test costs more than the test)."""
    context = browser.new_context(viewport=VIEWPORT)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened, errors
    finally:
        context.close()


@pytest.fixture
def page(tab: tuple[Any, list[str]]) -> Iterator[Any]:
    """The tab, left on a blank page after the test; fails a test whose page raised."""
    opened, errors = tab
    errors.clear()
    try:
        yield opened
    finally:
        opened.goto("about:blank")
    assert not errors, f"the page raised: {errors}"


@pytest.fixture(scope="module")
def output_dir() -> Path:
    folder = Path(os.environ.get("MAILER_TEST_OUTPUT") or ROOT / "test-output" / "preview")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_preview(page: Any, server: PreviewServer, query: str = "") -> None:
    """The page, with state from ``query``, once its first render is shown."""
    page.goto(server.url + (f"?{query}" if query else ""))
    page.wait_for_function("() => document.querySelector('[data-testid=\"preview\"]').dataset.renders",
                           polling="raf", timeout=RENDER_TIMEOUT)  # fmt: skip
    expect(page.get_by_test_id("preview")).to_have_attribute("data-state", "ready", timeout=1)


def desktop(page: Any) -> Any:
    return page.frame_locator('[data-testid="desktop-frame"]').locator("body")


def mobile(page: Any) -> Any:
    return page.frame_locator('[data-testid="mobile-frame"]').locator("body")


def frame_document(page: Any, testid: str) -> Any:
    frame = page.get_by_test_id(testid).element_handle().content_frame()
    assert frame is not None
    return frame


def render_count(page: Any, testid: str = "preview") -> int:
    """How many answers of the server's renders ``testid`` has shown (its ``data-renders``)."""
    return int(page.get_by_test_id(testid).get_attribute("data-renders") or 0)


def wait_for_render(page: Any, *, after: int, testid: str = "preview") -> None:
    """Until ``testid`` shows a render later than its ``after``-th, checked every
    frame (``expect`` checks less and less often, up to once a second)."""
    page.wait_for_function(
        "([testid, n]) => Number(document.querySelector(`[data-testid=\"${testid}\"]`).dataset.renders || 0) > n",
        arg=[testid, after], polling="raf", timeout=LIVE_TIMEOUT,
    )  # fmt: skip


@contextmanager
def a_new_render(page: Any, testid: str = "preview") -> Iterator[None]:
    """Waits, when the block ends, for ``testid`` to show a render the block asked for."""
    before = render_count(page, testid)
    yield
    wait_for_render(page, after=before, testid=testid)


def query_of(url: str) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(urlsplit(url).query).items()}


def choose_locale(page: Any, language: str) -> str:
    """Select the first locale override of ``language`` (``da`` → ``da_DK``); its value."""
    values = page.get_by_test_id("locale-select").locator("option").evaluate_all("options => options.map(o => o.value)")
    value = next(v for v in values if v.split("_")[0] == language)
    page.get_by_test_id("locale-select").select_option(value)
    return value


def test_customer_and_locale_override_show_in_the_desktop_frame(page: Any, server: PreviewServer) -> None:
    """Léa (fr_CH, CHF) picked by searching, shown in Danish: her name, Swiss francs, Danish words."""
    open_preview(page, server)
    page.get_by_test_id("customer-search").fill("favre")
    result = page.get_by_test_id("customer-result").filter(has_text="Léa Favre")
    expect(page.get_by_test_id("customer-result")).to_have_count(1)
    with a_new_render(page):
        result.get_by_role("button").first.click()
    expect(desktop(page)).to_contain_text("Léa")
    expect(desktop(page)).to_contain_text("Recommandé pour vous")  # her own locale first
    with a_new_render(page):
        locale = choose_locale(page, "da")
    expect(desktop(page)).to_contain_text("Afmeld")  # "Unsubscribe"
    expect(desktop(page)).to_contain_text("Anbefalet til dig")  # "Recommended for you"
    expect(desktop(page)).to_contain_text("Léa")
    expect(desktop(page)).to_contain_text("CHF")
    expect(page.get_by_test_id("current-customer")).to_contain_text("Léa Favre")
    state = query_of(page.url)
    assert state["customer"] == "C0022" and state["locale"] == locale


def test_a_shared_link_opens_the_same_customer_locale_currency_and_tab(page: Any, server: PreviewServer) -> None:
    open_preview(page, server, "campaign=fixtures/campaign.toml&customer=C0009&locale=de_DE&currency=EUR&tab=text")
    expect(page.get_by_test_id("tab-text")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_test_id("plain-text")).to_contain_text("Freja")
    expect(page.get_by_test_id("plain-text")).to_contain_text("Abmelden")  # German "Unsubscribe"
    expect(page.get_by_test_id("plain-text")).to_contain_text("€")
    expect(page.get_by_test_id("current-customer")).to_contain_text("da_DK · DKK")  # her own, not the override
    expect(page.get_by_test_id("locale-select")).to_have_value("de_DE")
    expect(page.get_by_test_id("currency-select")).to_have_value("EUR")
    page.get_by_test_id("tab-html").click()
    expect(desktop(page)).to_contain_text("Abmelden")
    assert "tab" not in query_of(page.url)


def test_a_quick_pick_per_market_shows_that_customer(page: Any, server: PreviewServer) -> None:
    open_preview(page, server, "customer=C0001")
    with a_new_render(page):
        page.get_by_test_id("market-pick").filter(has_text="sv_SE").click()
    expect(desktop(page)).to_contain_text("Björk")
    expect(page.get_by_test_id("current-customer")).to_contain_text("sv_SE · SEK")


def test_choosing_a_layout_in_the_sidebar_shows_it(page: Any, server: PreviewServer) -> None:
    open_preview(page, server, "customer=C0001")
    expect(page.get_by_test_id("campaign-item").filter(has_text="autumn-newsletter-2026")).to_have_attribute(
        "aria-current", "true")
    with a_new_render(page):
        page.get_by_test_id("layout-item").filter(has_text="welcome").click()
    expect(desktop(page)).to_contain_text("Free returns")
    expect(desktop(page)).to_contain_text("Olivia")
    assert query_of(page.url)["layout"] == "welcome" and "campaign" not in query_of(page.url)


def test_email_frames_are_sandboxed_without_allow_scripts(page: Any, server: PreviewServer) -> None:
    open_preview(page, server, "customer=C0001&compare=C0001,C0002&tab=compare")
    wait_for_render(page, after=0, testid="compare-grid")
    expect(page.get_by_test_id("compare-frame")).to_have_count(2)
    for frame in [page.get_by_test_id("desktop-frame"), page.get_by_test_id("mobile-frame"),
                  *page.get_by_test_id("compare-frame").all()]:  # fmt: skip
        expect(frame).to_have_attribute("sandbox", "allow-same-origin allow-popups")
        assert frame.get_attribute("srcdoc"), "the email goes in srcdoc"


def test_mobile_frame_has_no_horizontal_scroll(page: Any, server: PreviewServer) -> None:
    open_preview(page, server, "customer=C0013")  # Mikael Holmström: long names, sv_FI
    expect(mobile(page)).to_contain_text("Mikael")
    widths = frame_document(page, "mobile-frame").evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth})")
    assert widths["client"] == 375, widths
    assert widths["scroll"] <= widths["client"], widths


def test_saving_a_layout_updates_the_open_page_without_reloading(page: Any, server: PreviewServer) -> None:
    """The same page (a marker on window survives), customer, locale, tab and scroll position."""
    open_preview(page, server, "customer=C0008&locale=da_DK&tab=text")
    expect(page.get_by_test_id("plain-text")).to_contain_text("Anbefalet til dig")
    page.evaluate("window.__notReloaded = true")
    before = page.url
    shown = render_count(page)
    with server.edit(NEWSLETTER, '{{ _("Recommended for you") }}', "Live from the layout file"):
        wait_for_render(page, after=shown)
        expect(page.get_by_test_id("plain-text")).to_contain_text("Live from the layout file")
        expect(page.get_by_test_id("tab-text")).to_have_attribute("aria-selected", "true")
        page.get_by_test_id("tab-html").click()
        expect(desktop(page)).to_contain_text("Live from the layout file")
        expect(desktop(page)).to_contain_text("Søren")
        page.evaluate("window.scrollTo(0, 600)")
        scrolled = page.evaluate("window.scrollY")
        assert scrolled > 0
        shown = render_count(page)
    wait_for_render(page, after=shown)
    expect(desktop(page)).to_contain_text("Anbefalet til dig")
    # Kept where it was, unless the page is now too short to scroll that far.
    bottom = page.evaluate("document.documentElement.scrollHeight - window.innerHeight")
    assert page.evaluate("window.scrollY") == min(scrolled, bottom)
    assert page.evaluate("window.__notReloaded") is True
    assert page.url.replace("&tab=text", "") == before.replace("&tab=text", "")


def test_broken_template_shows_file_and_line_and_fixing_it_brings_the_email_back(
    page: Any, server: PreviewServer
) -> None:
    open_preview(page, server, "customer=C0001")
    expect(desktop(page)).to_contain_text("Olivia")
    line = 14
    error = page.get_by_test_id("layout-error")
    shown = render_count(page)
    with server.insert_line(NEWSLETTER, line, "{% if %}"):
        wait_for_render(page, after=shown)
        expect(error).to_be_visible()
        expect(page.get_by_test_id("layout-error-location")).to_contain_text("newsletter.mjml")
        expect(page.get_by_test_id("layout-error-location")).to_contain_text(f"line {line}")
        expect(page.get_by_test_id("desktop-frame")).to_be_hidden()
        # The page keeps working: another customer is chosen while the layout is broken.
        page.get_by_test_id("customer-search").fill("C0005")
        with a_new_render(page):
            page.get_by_test_id("customer-result").filter(has_text="Emily").get_by_role("button").first.click()
        expect(page.get_by_test_id("current-customer")).to_contain_text("Emily")
        expect(error).to_be_visible()
        shown = render_count(page)
    wait_for_render(page, after=shown)
    expect(error).to_be_hidden()
    expect(page.get_by_test_id("desktop-frame")).to_be_visible()
    expect(desktop(page)).to_contain_text("Emily")


def test_compare_shows_four_customers_side_by_side(page: Any, server: PreviewServer) -> None:
    open_preview(page, server)
    for customer in ("C0001", "C0008", "C0014", "C0019"):  # all in the first page of results
        result = page.locator(f'[data-testid="customer-result"][data-customer="{customer}"]')
        result.get_by_test_id("compare-check").check()
    unticked = page.get_by_test_id("compare-check").and_(page.locator(":not(:checked)"))
    expect(unticked.first).to_be_disabled()  # four at most
    with a_new_render(page, "compare-grid"):
        page.get_by_test_id("compare-open").click()
    expect(page.get_by_test_id("compare-frame")).to_have_count(4)
    expect(page.get_by_test_id("compare-name")).to_have_text(
        ["Olivia Bennett", "Søren Kierkegaard", "Lena Müller", "Camille Dubois"])
    cells = page.get_by_test_id("compare-cell")
    expect(cells.nth(1)).to_contain_text("da_DK · DKK")
    expect(cells.nth(3)).to_contain_text("fr_FR · EUR")
    expect(cells.nth(0).get_by_test_id("compare-products")).to_contain_text("listed")  # why each product is there
    expect(page.frame_locator('[data-testid="compare-frame"] >> nth=1').locator("body")).to_contain_text("kr.")
    expect(page.frame_locator('[data-testid="compare-frame"] >> nth=3').locator("body")).to_contain_text("Camille")
    assert query_of(page.url)["compare"] == "C0001,C0008,C0014,C0019"
    assert query_of(page.url)["tab"] == "compare"


def test_warnings_panel_lists_an_image_without_alt(page: Any, server: PreviewServer) -> None:
    image = '<mj-image src="http://cdn.example-shop.test/banner.png" href="http://www.example-shop.test/" />'
    open_preview(page, server, "customer=C0001")
    expect(desktop(page)).to_contain_text("Olivia")
    shown = render_count(page)
    with server.edit(NEWSLETTER, "<mj-column>", f"<mj-column>\n        {image}"):
        wait_for_render(page, after=shown)
        listed = page.get_by_test_id("warnings").get_by_test_id("warning")
        missing_alt = listed.and_(page.locator('[data-rule="image-alt"]'))
        expect(missing_alt).to_have_count(1)
        expect(missing_alt).to_contain_text("alt")
        expect(missing_alt).to_contain_text("banner.png")  # the element it is about
        expect(page.get_by_test_id("warnings-count")).to_have_text(str(listed.count()))
        shown = render_count(page)
    wait_for_render(page, after=shown)
    expect(missing_alt).to_have_count(0)


def test_dark_mode_inverts_the_frame_and_says_it_is_an_approximation(page: Any, server: PreviewServer) -> None:
    open_preview(page, server, "customer=C0001")
    expect(desktop(page)).to_contain_text("Olivia")
    filter_of_root = "() => getComputedStyle(document.documentElement).filter"
    assert frame_document(page, "desktop-frame").evaluate(filter_of_root) == "none"
    page.get_by_test_id("dark-toggle").check()
    expect(page.get_by_test_id("dark-note")).to_contain_text("differ")
    expect(page.get_by_test_id("dark-toggle").locator("xpath=..")).to_contain_text("approximation")
    for testid in ("desktop-frame", "mobile-frame"):
        assert "invert(1)" in frame_document(page, testid).evaluate(filter_of_root)
    assert query_of(page.url)["dark"] == "1"


def test_the_size_indicator_shows_the_html_size_against_gmail_clipping(page: Any, server: PreviewServer) -> None:
    open_preview(page, server, "customer=C0001")
    size = page.get_by_test_id("size-indicator")
    expect(size).to_have_attribute("data-limit", re.compile(r"^\d{6}$"))
    assert 0 < int(size.get_attribute("data-size")) < int(size.get_attribute("data-limit"))
    expect(size).not_to_have_class(re.compile(r"\bover\b"))
    expect(page.get_by_test_id("size-label")).to_contain_text("KB")


def test_plain_text_headers_source_and_products_tabs(page: Any, server: PreviewServer) -> None:
    open_preview(page, server, "customer=C0001")
    page.get_by_test_id("tab-text").click()
    expect(page.get_by_test_id("plain-text")).to_contain_text("Hi Olivia")
    page.get_by_test_id("tab-headers").click()
    expect(page.get_by_test_id("header-row").filter(has_text="List-Unsubscribe-Post")).to_have_count(1)
    expect(page.get_by_test_id("headers-table")).to_contain_text("olivia.bennett@example.co.uk")
    page.get_by_test_id("tab-source").click()
    expect(page.get_by_test_id("raw-source")).to_contain_text("Content-Type: multipart/alternative")
    page.get_by_test_id("tab-products").click()
    expect(page.get_by_test_id("product-row")).to_have_count(6)
    expect(page.get_by_test_id("product-row").first).to_contain_text("listed")


def test_send_test_reports_where_it_went(page: Any, server: PreviewServer) -> None:
    open_preview(page, server, "customer=C0001")
    page.get_by_test_id("send-to").fill("creative@example.com")
    page.get_by_test_id("send-submit").click()
    result = page.get_by_test_id("send-result")
    expect(result).to_contain_text("creative@example.com", timeout=RENDER_TIMEOUT)
    expect(result).not_to_have_class(re.compile(r"\bfailed\b"))
    page.get_by_test_id("send-to").fill("not an address")
    page.get_by_test_id("send-to").evaluate("input => { input.type = 'text'; }")  # past the browser's own check
    page.get_by_test_id("send-submit").click()
    expect(result).to_have_class(re.compile(r"\bfailed\b"), timeout=RENDER_TIMEOUT)
    expect(result).to_contain_text("not an address")


def test_screenshots_of_the_frames_and_the_compare_view(page: Any, server: PreviewServer, output_dir: Path) -> None:
    open_preview(page, server, "customer=C0008&compare=C0001,C0008,C0014,C0022")
    expect(desktop(page)).to_contain_text("Søren")
    shots = {
        "desktop": output_dir / "desktop.png",
        "mobile": output_dir / "mobile.png",
        "page": output_dir / "page.png",
        "compare": output_dir / "compare.png",
    }
    page.get_by_test_id("desktop-frame").screenshot(path=shots["desktop"])
    page.get_by_test_id("mobile-frame").screenshot(path=shots["mobile"])
    page.screenshot(path=shots["page"])
    with a_new_render(page, "compare-grid"):
        page.get_by_test_id("tab-compare").click()
    expect(page.get_by_test_id("compare-frame")).to_have_count(4)
    expect(page.frame_locator('[data-testid="compare-frame"] >> nth=3').locator("body")).to_contain_text("Léa")
    page.get_by_test_id("compare").screenshot(path=shots["compare"])
    for name, path in shots.items():
        assert path.stat().st_size > 1000, path
        print(f"{name} screenshot: {path}")

"""mailer.lint.mjml: tags MJML does not know, in layout sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.lint.mjml import MJML_TAGS, lint_mjml
from tests.conftest import ROOT

SHIPPED = sorted((ROOT / "layouts").rglob("*.mjml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_shipped_layouts_have_no_unknown_tags(path: Path) -> None:
    assert lint_mjml(path.read_text(encoding="utf-8"), path=str(path)) == []


def test_shipped_layouts_are_all_checked() -> None:
    assert len(SHIPPED) >= 8 and any(p.parent.name == "partials" for p in SHIPPED)


def test_a_misspelt_tag_is_an_error_with_line_path_and_suggestion() -> None:
    source = '<mj-section>\n  <mj-column>\n    <mj-txt align="center">Hi</mj-txt>\n  </mj-column>\n</mj-section>'
    [finding] = lint_mjml(source, path="layouts/sale.mjml")
    assert (finding.rule, finding.severity, finding.line, finding.path) == ("mjml-unknown-tag", "error", 3, "layouts/sale.mjml")
    assert finding.message == "unknown MJML tag <mj-txt> (did you mean <mj-text>?)"
    assert finding.element == '<mj-txt align="center">'


@pytest.mark.parametrize(("tag", "meant"), [
    ("mj-imgae", "mj-image"), ("mj-buton", "mj-button"), ("mj-colum", "mj-column"), ("mj-secton", "mj-section"),
])  # fmt: skip
def test_suggestions(tag: str, meant: str) -> None:
    assert f"did you mean <{meant}>?" in lint_mjml(f"<{tag} />")[0].message


def test_without_a_close_tag_known_tags_are_listed() -> None:
    [finding] = lint_mjml("<mj-zzzzzzzz>")
    assert "did you mean" not in finding.message and "mj-section" in finding.message


def test_every_mjml4_tag_is_known() -> None:
    source = "\n".join(f'<{tag} alt=""></{tag}>' for tag in sorted(MJML_TAGS))
    assert len(MJML_TAGS) == 37 and lint_mjml(source) == []


def test_an_unknown_tag_and_its_closing_tag_are_one_finding() -> None:
    assert [f.line for f in lint_mjml("<mj-txt>\nHi\n</mj-txt>\n<mj-txt>")] == [1, 4]


def test_a_stray_unknown_closing_tag_is_reported() -> None:
    assert [f.message for f in lint_mjml("<mj-text>Hi</mj-txt>")] == ["unknown MJML tag </mj-txt> (did you mean <mj-text>?)"]


def test_template_tags_and_comments_are_ignored_and_lines_kept() -> None:
    source = ("{# <mj-nope> #}\n[# a note about\n<mj-nope> #]\n{{ '<mj-nope>' }}{% set x = '<mj-nope>' %}\n"
              "[% include 'partials/<mj-nope>.mjml' %][[ '<mj-nope>' ]]\n<!-- <mj-nope>\n-->\n<mj-nope>")  # fmt: skip
    assert [f.line for f in lint_mjml(source)] == [8]


def test_tags_inside_mj_raw_are_checked() -> None:
    source = "<mj-raw>{% if offer.code %}</mj-raw>\n<mj-raw><mj-sectoin>{% endif %}</mj-raw>"
    assert [(f.line, f.element) for f in lint_mjml(source)] == [(2, "<mj-sectoin>")]


def test_html_tags_and_attribute_values_are_not_mjml_tags() -> None:
    assert lint_mjml('<mj-text css-class="mj-foo"><a href="#">x</a><table></table></mj-text>') == []


def test_names_that_only_start_like_mjml_tags_are_unknown() -> None:
    assert [f.element for f in lint_mjml("<mjmlish>\n<mj-column-x")] == ["<mjmlish>", "<mj-column-x"]


def test_unterminated_template_tags_do_not_crash() -> None:
    assert lint_mjml("<mj-text>{{ name </mj-text>{% if") == []


def test_an_mj_image_without_alt_is_found_at_its_line() -> None:
    source = '<mj-column>\n  <mj-image src="https://s.test/hero.png"\n    href="{{ content.link }}" />\n</mj-column>'
    [finding] = lint_mjml(source, path="layouts/x.mjml")
    assert (finding.rule, finding.line, finding.path) == ("image-alt", 2, "layouts/x.mjml")
    assert "https://s.test/hero.png" in (finding.element or "")


def test_an_mj_image_with_alt_or_empty_alt_is_fine() -> None:
    assert lint_mjml('<mj-image src="a.png" alt="{{ _(\'Hero\') }}" /><mj-image src="b.png" alt="" />') == []

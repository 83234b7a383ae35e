"""mailer.lint.findings: the finding every check returns, and its JSON."""

from __future__ import annotations

import json

from mailer.lint.findings import Finding, snippet


def test_json_leaves_out_optional_fields_that_are_not_set() -> None:
    assert Finding("html-size", "too big", "error").to_json() == {
        "rule": "html-size", "message": "too big", "severity": "error",
    }  # fmt: skip


def test_json_has_every_field_that_is_set_and_is_serialisable() -> None:
    finding = Finding("client-support", "m", line=3, path="layouts/a.mjml", element="<div>", clients=("Gmail iOS 2020-01: partial",))
    data = finding.to_json()
    assert data == {"rule": "client-support", "message": "m", "severity": "warning", "line": 3,
                    "path": "layouts/a.mjml", "element": "<div>", "clients": ["Gmail iOS 2020-01: partial"]}  # fmt: skip
    assert json.loads(json.dumps(data)) == data


def test_line_zero_is_kept_but_empty_element_is_not() -> None:
    data = Finding("r", "m", line=0, element="").to_json()
    assert data["line"] == 0 and "element" not in data


def test_str_names_file_line_severity_and_rule() -> None:
    assert str(Finding("mjml-unknown-tag", "unknown", "error", line=4, path="a.mjml")) == "a.mjml, line 4: error: unknown [mjml-unknown-tag]"
    assert str(Finding("unsubscribe-link", "none", "error")) == "error: none [unsubscribe-link]"


def test_snippet_keeps_short_text_and_cuts_long_text_to_the_limit() -> None:
    assert snippet("<img  src='a'>") == "<img src='a'>"
    cut = snippet("<img " + "x" * 300 + ">")
    assert len(cut) == 120 and cut.endswith("…")

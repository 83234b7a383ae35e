"""RFC 3834 automatic replies: recognised by header or subject, never otherwise."""

from __future__ import annotations

import pytest

from mailer.feedback.autoreply import auto_reply_reason


@pytest.mark.parametrize(
    "headers",
    [
        {"auto-submitted": "auto-replied"},
        {"auto-submitted": "Auto-Replied (vacation)"},
        {"x-autoreply": "yes"},
        {"x-autorespond": "Out of office"},
        {"precedence": "auto_reply"},
        {"x-apple-action": "VACATION"},
    ],
)
def test_responder_headers_make_an_auto_reply(headers: dict[str, str]) -> None:
    assert auto_reply_reason(headers, "Re: your order") is not None


@pytest.mark.parametrize(
    "subject",
    ["Automatic reply: Autumn sale", "Auto reply: Nyaan", "Out of Office: back Monday", "AutoRespons: x", "Abwesenheitsnotiz", "Réponse automatique : x"],
)
def test_responder_subjects_make_an_auto_reply(subject: str) -> None:
    assert auto_reply_reason({}, subject) is not None


@pytest.mark.parametrize(
    ("headers", "subject"),
    [
        ({"auto-submitted": "auto-generated"}, "Your invoice"),
        ({"auto-submitted": "no"}, "Re: hello"),
        ({"x-autoreply": "no"}, "Re: hello"),
        ({"precedence": "bulk"}, "Newsletter"),
        ({}, "Re: where is my order?"),
        ({}, "Awaydays 2026 planning"),
    ],
)
def test_other_mail_is_not_an_auto_reply(headers: dict[str, str], subject: str) -> None:
    assert auto_reply_reason(headers, subject) is None

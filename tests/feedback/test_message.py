"""Taking a returned message apart: headers, texts, report parts, the original."""

from __future__ import annotations

from mailer.feedback.message import MAX_TEXT, read_message

REPORT = b"""Return-Path: <>
X-Original-To: Bounces+Tok@shop.test
Delivered-To: bounces@shop.test
From: =?utf-8?q?Mail_Delivery_System?= <MAILER-DAEMON@mx.example.com>
To: bounces@shop.test
Subject: Undelivered
 Mail
Content-Type: multipart/report; report-type=delivery-status; boundary=B

--B
Content-Type: text/plain; charset=iso-2022-jp

\x1b$B%(%i!<\x1b(B
--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com

Final-Recipient: rfc822; ann@example.com
Action: failed
Status: 5.1.1
--B
Content-Type: message/rfc822

Return-Path: <bounces+tok@shop.test>
From: news@shop.test
To: Ann <ann@example.com>
Message-ID: <42@shop.test>

Hello
--B--
"""


def test_the_envelope_addresses_come_most_reliable_first() -> None:
    assert read_message(REPORT).envelope_to == ("bounces+tok@shop.test", "bounces@shop.test")


def test_headers_are_decoded_and_unfolded() -> None:
    message = read_message(REPORT)
    assert (message.sender_name, message.subject) == ("Mail Delivery System <MAILER-DAEMON@mx.example.com>", "Undelivered Mail")
    assert (message.sender, message.return_path) == ("mailer-daemon@mx.example.com", "<>")


def test_text_parts_are_decoded_from_their_charset() -> None:
    assert read_message(REPORT).texts == ["エラー"]


def test_the_delivery_status_part_keeps_its_groups() -> None:
    assert read_message(REPORT).delivery_status == [
        "Reporting-MTA: dns; mx.example.com\n\nFinal-Recipient: rfc822; ann@example.com\nAction: failed\nStatus: 5.1.1"
    ]


def test_the_attached_original_gives_its_id_return_path_and_recipients() -> None:
    message = read_message(REPORT)
    assert message.original_message_id() == "<42@shop.test>"
    assert message.original_return_path() == "bounces+tok@shop.test"
    assert message.original_recipients() == ("ann@example.com",)


def test_an_original_whose_headers_break_early_still_gives_its_id() -> None:
    raw = b"Content-Type: message/rfc822\n\nDKIM-Signature: v=1;\ns=selector1;\nFrom: a@b.example\nMessage-ID: <x1@b.example>\n\nbody\n"
    assert read_message(raw).original_message_id() == "<x1@b.example>"


def test_a_quoted_original_gives_its_id_and_a_bare_id_gets_brackets() -> None:
    raw = b"Subject: failure notice\n\nSorry.\n--- Below this line is a copy of the message.\n\nMessage-ID: x1@b.example\n"
    assert read_message(raw).original_message_id() == "<x1@b.example>"


def test_html_only_mail_is_read_as_text() -> None:
    raw = b"Content-Type: text/html\n\n<p>Mailbox <b>full</b>:<br>ann@example.com &amp; co</p>"
    assert read_message(raw).text == " Mailbox  full :\nann@example.com & co\n"


def test_an_unknown_charset_and_a_broken_encoding_are_read_anyway() -> None:
    raw = b"Content-Type: text/plain; charset=x-nonsense\nContent-Transfer-Encoding: base64\n\n!!!not base64\xff"
    assert isinstance(read_message(raw).text, str)


def test_a_huge_part_is_capped() -> None:
    raw = b"Content-Type: text/plain\n\n" + b"a" * (MAX_TEXT * 2)
    assert len(read_message(raw).text) == MAX_TEXT

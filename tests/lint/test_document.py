"""mailer.lint.document: the rendered email read once for all checks."""

from __future__ import annotations

from mailer.lint.document import parse_html


def test_elements_have_lower_case_tags_attributes_and_lines() -> None:
    doc = parse_html('<html>\n<BODY>\n<IMG SRC="a.png" Alt="x">\n</BODY></html>')
    img = [e for e in doc.elements if e.tag == "img"][0]
    assert img.attrs == {"src": "a.png", "alt": "x"} and img.line == 3
    assert img.snippet == '<IMG SRC="a.png" Alt="x">'


def test_an_attribute_without_value_is_none_and_the_first_of_a_name_wins() -> None:
    [element] = parse_html('<input hidden type="text" type="radio">').elements
    assert element.attrs == {"hidden": None, "type": "text"}


def test_links_have_unescaped_addresses_their_text_and_come_in_document_order() -> None:
    doc = parse_html('<a href="https://s.test/?a=1&amp;b=2">Un<b>sub</b>scribe &amp; more</a>\n'
                     '<a href="/x"><a href="/y">inner</a>outer</a><a name="top">no href</a>')
    assert [(link.href, link.text) for link in doc.links] == [
        ("https://s.test/?a=1&b=2", "Unsubscribe & more"), ("/x", "innerouter"), ("/y", "inner"),
    ]  # fmt: skip
    assert doc.links[1].element.line == 2


def test_an_unclosed_link_still_counts() -> None:
    assert [link.text for link in parse_html('<a href="https://s.test/u">Unsubscribe').links] == ["Unsubscribe"]


def test_style_sheets_keep_their_css_and_starting_line() -> None:
    doc = parse_html('<head>\n<style type="text/css">\n.a { color: red }\n</style>\n<style></style></head>')
    assert [(s.css, s.line) for s in doc.styles] == [("\n.a { color: red }\n", 2)]
    assert doc.styles[0].element.attrs == {"type": "text/css"}


def test_markup_inside_comments_is_not_read_as_elements() -> None:
    doc = parse_html('<!--[if mso]><table width="600"><tr><td><![endif]-->\n<div>x</div><!-- note -->')
    assert [e.tag for e in doc.elements] == ["div"]
    assert [(c.text, c.line) for c in doc.comments] == [('[if mso]><table width="600"><tr><td><![endif]', 1), (" note ", 2)]


def test_doctype_and_its_line() -> None:
    doc = parse_html("\n<!doctype html><p>")
    assert (doc.doctype, doc.doctype_line) == ("doctype html", 2)
    assert parse_html("<p>").doctype is None

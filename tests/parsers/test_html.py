"""parsers/html.py: HTML bodies as readable text, and without the history clients mark up."""

from __future__ import annotations

from parsers.html import html_reply_text, html_to_text


def test_links_are_kept_and_style_script_and_images_go() -> None:
    html = (
        "<html><head><style>p {color: red}</style><script>track()</script></head><body>"
        "<p>See <a href='https://status.example/1'>the status page</a>.</p>"
        "<img src='https://t.example/pixel.gif' width='1' height='1'>"
        "<!-- a comment --></body></html>"
    )

    text = html_to_text(html)

    assert text == "See [the status page](https://status.example/1)."


def test_outlook_divrplyfwdmsg_and_what_follows_go() -> None:
    html = (
        "<div>Thanks, that fixed it.</div><hr>"
        "<div id='divRplyFwdMsg'><b>From:</b> Contoso Support<br><b>Sent:</b> Monday</div>"
        "<div>Please restart the printer.</div>"
    )

    assert html_reply_text(html) == "Thanks, that fixed it."
    assert "restart" in html_to_text(html)


def test_gmail_quote_goes() -> None:
    html = (
        "<div dir='ltr'>Works now.</div><div class='gmail_quote'>"
        "<div class='gmail_attr'>On Mon, Jan wrote:</div><blockquote>Restart it.</blockquote></div>"
    )

    assert html_reply_text(html) == "Works now."


def test_apple_mail_blockquote_type_cite_goes() -> None:
    html = "<div>Yes.</div><blockquote type='cite'><div>Is it broken?</div></blockquote>"

    assert html_reply_text(html) == "Yes."


def test_thunderbird_cite_prefix_goes() -> None:
    html = (
        "<p>OK</p><div class='moz-cite-prefix'>On 3/3/26 Jan wrote:<br></div>"
        "<blockquote type='cite'>old</blockquote>"
    )

    assert html_reply_text(html) == "OK"


def test_not_html_at_all() -> None:
    assert html_to_text("") == ""
    assert html_to_text("just text & more") == "just text & more"
    assert html_to_text("\x00\x01<p>odd\x02</p>") == "odd"


def test_a_link_that_is_its_own_text_is_plain_text() -> None:
    html = "<p>Mail <a href='mailto:jan@contoso.example'>jan@contoso.example</a> or <a href='https://x.example'>here</a></p>"

    assert html_to_text(html) == "Mail jan@contoso.example or [here](https://x.example)"


def test_markdown_escapes_of_list_starts_are_undone() -> None:
    # html2text writes "\--" for a signature delimiter and "1\." for a numbered line.
    text = html_to_text("<p>Thanks</p><p>-- <br>Anna</p><p>- one</p><p>2. two</p><p>+ three</p>")

    assert text.splitlines() == [
        "Thanks",
        "",
        "--",
        "Anna",
        "",
        "- one",
        "",
        "2. two",
        "",
        "+ three",
    ]


def test_a_line_break_leaves_no_trailing_spaces() -> None:
    text = html_to_text("Line one<br>Line two<br><br>Regards<br>Anna")

    assert text == "Line one\nLine two\n\nRegards\nAnna"

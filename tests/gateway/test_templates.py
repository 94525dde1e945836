from pathlib import Path

from gateway.delivery.templates import Templates


def test_admin_templates_override_the_shipped_ones_per_language(tmp_path: Path) -> None:
    (tmp_path / "nl").mkdir()
    (tmp_path / "nl" / "acknowledgement.txt").write_text("Eigen tekst voor {{ tag }}\n")
    templates = Templates(tmp_path)
    assert templates.render("acknowledgement", "nl", tag="[X#1]") == "Eigen tekst voor [X#1]\n"
    # Languages and templates the admin did not override stay the shipped ones.
    shipped = Templates().render("notice", "en", text="mailbox down", partner=_Partner())
    assert templates.render("notice", "en", text="mailbox down", partner=_Partner()) == shipped


class _Partner:
    name = "Contoso Cloud"


def test_a_template_is_read_once_and_again_by_a_new_templates(tmp_path: Path) -> None:
    """The daemon and its worker make a new Templates on SIGHUP; until then an edit waits."""
    (tmp_path / "en").mkdir()
    template = tmp_path / "en" / "acknowledgement.txt"
    template.write_text("Old text\n")
    templates = Templates(tmp_path)
    assert templates.render("acknowledgement", "en") == "Old text\n"

    template.write_text("New text, longer than the old\n")

    assert templates.render("acknowledgement", "en") == "Old text\n"
    assert Templates(tmp_path).render("acknowledgement", "en") == "New text, longer than the old\n"


def test_templates_know_their_languages(tmp_path: Path) -> None:
    (tmp_path / "de").mkdir()

    assert Templates().has_language("nl")
    assert not Templates().has_language("de")
    assert Templates(tmp_path).has_language("de")
    assert not Templates().has_language("")


def test_the_reply_language_is_the_customers_else_the_mails_where_templates_exist() -> None:
    from dataclasses import replace

    from gateway.config import Customer
    from gateway.delivery.sender import reply_language

    templates = Templates()
    given = Customer("f", "F", ("f.example",), (), "", "direct", None, False, "en", True)
    open_ = replace(given, language_given=False)

    assert reply_language(templates, given, "nl") == "en"
    assert reply_language(templates, open_, "nl") == "nl"
    assert reply_language(templates, open_, "de") == "en"  # no German templates shipped
    assert reply_language(templates, None, "nl") == "nl"
    assert reply_language(templates, None, "") == "en"

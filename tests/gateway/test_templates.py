from pathlib import Path

from gateway.templates import Templates


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

from parsers.commands import Command, split_commands


def test_commands_at_the_top_and_the_answer_after_them() -> None:
    commands, answer = split_commands("#close\n\n#Assign  jan \nThanks, all done.\n#note no")
    assert commands == (Command("close", ""), Command("assign", "jan"))
    assert answer == "Thanks, all done.\n#note no"  # only the top lines are commands


def test_text_without_commands_is_all_answer() -> None:
    assert split_commands("See ticket #1042.\n#close") == ((), "See ticket #1042.\n#close")


def test_hash_numbers_and_headings_are_not_commands() -> None:
    assert split_commands("#1042 is fixed") == ((), "#1042 is fixed")
    assert split_commands("# Heading\ntext") == ((), "# Heading\ntext")


def test_only_commands_leave_no_answer() -> None:
    assert split_commands("#pending\n") == ((Command("pending", ""),), "")

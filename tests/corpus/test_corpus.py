"""The parser against the shared corpus's expectations, per set (figures: bench/parse.py)."""

from __future__ import annotations

import pytest

from tests.corpus import scoring

pytestmark = pytest.mark.skipif(
    not scoring.CORPUS.is_dir(), reason=f"the shared corpus is not at {scoring.CORPUS}"
)

# The aims, and floors a little under today's figures for the sets without an aim, so
# that a change that makes the parser read worse fails here.
AIMS = {
    "imap_tools": 0.95,
    "email_reply_trimmer": 0.90,
    "sisimai-set-of-emails": 0.95,
    "flufl.bounce": 0.95,
    "all files": 1.0,
}
# Where the parser does not reach the aim yet: today's figure, so that it cannot get worse.
FLOORS = {
    "mimekit-tnef": 0.6,  # tnefparse does not unpack embedded messages (christmas, winmail)
    "github-email_reply_parser": 0.9,
    "willdurand-EmailReplyParser": 0.93,
    "crisp-email-reply-parser": 0.95,
    "mail-parser-reply": 0.65,
    "talon": 0.9,  # the two left keep "Sent from my iPhone" and a Sparrow signature
    "zapier-email-reply-parser": 1.0,
}


@pytest.mark.parametrize("name", sorted(scoring.SETS))
def test_set_reads_right_and_never_crashes(name: str) -> None:
    score = scoring.SETS[name]()

    print(score.line())
    assert score.messages > 0
    assert score.crashes == 0
    assert score.ratio >= FLOORS.get(name, AIMS.get(name, 0.0)), (score.line(), score.wrong)

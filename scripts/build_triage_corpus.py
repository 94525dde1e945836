# ruff: noqa: E501  (tables of mail text read better unbroken)
"""Build routing/corpus/*.jsonl from the hand-written mails in routing/corpus/written/*.txt.

Every mail in written/ was written by hand, one per request; this script only dresses each one as
real mail arrives: a greeting and a sign-off in the mail's language, sometimes a signature block,
a legal disclaimer, a phone's "Sent from" line, the quoted history of an earlier, unrelated mail
(Outlook's header block or Gmail's "On ... wrote:"), or a forward of the request with a short note
on top. The choices are seeded by the mail itself, so the output is the same on every run.

Which part a mail goes to (train or held-out) is decided by a hash of its hand-written text, so
adding mails never moves an old one across: heldout.jsonl is never trained or tuned on.

    python scripts/build_triage_corpus.py      # rewrites routing/corpus/*.jsonl
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent / "routing" / "corpus"
HELD_OUT_SHARE = 5  # one mail in five
INTENTS = (
    "unavailable",
    "undocumented_fault",
    "bug",
    "network_outage",
    "regional",
    "subscription",
    "baseline",
)


@dataclass(frozen=True)
class Written:
    language: str
    intent: str
    subject: str
    body: str
    forwarded: str  # the colleague's mail when the written mail forwards one
    misleading: bool

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.subject}\n{self.body}\n{self.forwarded}".encode()).hexdigest()


def read_written(path: Path) -> list[Written]:
    intent = path.stem
    mails = []
    for block in re.split(r"^@@ ", path.read_text(), flags=re.MULTILINE)[1:]:
        header, _, text = block.partition("\n")
        tags, _, subject = header.partition("|")
        language, misleading = tags.split()[0], "!" in tags
        body, _, forwarded = text.strip().partition(">>> forwarded\n")
        mails.append(
            Written(language, intent, subject.strip(), body.strip(), forwarded.strip(), misleading)
        )
    return mails


GREETINGS = {
    "nl": [
        "Hoi,",
        "Hallo,",
        "Beste,",
        "Goedemorgen,",
        "Goedemiddag,",
        "Beste support,",
        "Hoi allemaal,",
        "Beste heer/mevrouw,",
        "Hallo Contoso,",
        "Dag,",
    ],
    "en": [
        "Hi,",
        "Hello,",
        "Hi team,",
        "Good morning,",
        "Dear support,",
        "Hi all,",
        "Dear Sir or Madam,",
        "Hey,",
        "Hello Contoso team,",
        "Afternoon,",
    ],
    "de": [
        "Hallo,",
        "Guten Tag,",
        "Hallo zusammen,",
        "Sehr geehrte Damen und Herren,",
        "Moin,",
        "Liebes Support-Team,",
        "Guten Morgen,",
        "Servus,",
    ],
    "fr": [
        "Bonjour,",
        "Bonjour à tous,",
        "Madame, Monsieur,",
        "Bonjour l'équipe,",
        "Salut,",
        "Bonjour Contoso,",
        "Bonsoir,",
    ],
}
CLOSINGS = {
    "nl": [
        "Groet,",
        "Met vriendelijke groet,",
        "Mvg,",
        "Alvast bedankt!",
        "Groetjes,",
        "Dank en groet,",
        "Hartelijke groet,",
        "Bvd,",
    ],
    "en": [
        "Thanks,",
        "Kind regards,",
        "Best,",
        "Cheers,",
        "Regards,",
        "Many thanks in advance,",
        "Thanks in advance!",
        "Best wishes,",
    ],
    "de": [
        "Viele Grüße",
        "Mit freundlichen Grüßen",
        "Danke und Gruß",
        "VG",
        "Beste Grüße",
        "Freundliche Grüße",
        "Gruß",
    ],
    "fr": [
        "Cordialement,",
        "Bien cordialement,",
        "Merci d'avance,",
        "Bonne journée,",
        "Salutations,",
        "Merci,",
        "Bien à vous,",
    ],
}
NAMES = {
    "nl": [
        "Jan Visser",
        "Sanne de Boer",
        "Pieter Mulder",
        "Eva Smit",
        "Bram Willems",
        "Noor Peters",
        "Kevin Hendriks",
        "Lisa van Leeuwen",
        "Thijs Bos",
        "Femke Kok",
    ],
    "en": [
        "James Taylor",
        "Sarah Wilson",
        "David Brown",
        "Emily Johnson",
        "Chris Walker",
        "Laura Hughes",
        "Ben Carter",
        "Hannah Green",
        "Tom Baker",
        "Nina Patel",
    ],
    "de": [
        "Michael Fischer",
        "Julia Becker",
        "Andreas Wolf",
        "Laura Schäfer",
        "Tobias Koch",
        "Anna Richter",
        "Florian Klein",
        "Lea Zimmermann",
        "Jonas Hartmann",
        "Mia Krause",
    ],
    "fr": [
        "Pierre Martin",
        "Marie Bernard",
        "Antoine Dubois",
        "Chloé Laurent",
        "Lucas Simon",
        "Manon Michel",
        "Thomas Garcia",
        "Julie Roux",
        "Maxime Fontaine",
        "Inès Chevalier",
    ],
}
ROLES = {
    "nl": ["Office manager", "Systeembeheerder", "Directeur", "Administratie", "ICT", "Teamleider"],
    "en": ["Office Manager", "IT Administrator", "Managing Director", "Finance", "Operations Lead"],
    "de": ["Büroleitung", "IT-Administrator", "Geschäftsführer", "Buchhaltung", "Teamleitung"],
    "fr": ["Responsable administrative", "Administrateur système", "Gérant", "Comptabilité"],
}
COMPANIES = [
    "Fabrikam BV",
    "Adatum Corporation",
    "Fabrikam Logistics",
    "Adatum Zorg",
    "Fabrikam GmbH",
    "Adatum SARL",
]
DISCLAIMERS = {
    "nl": "Dit e-mailbericht is uitsluitend bestemd voor de geadresseerde(n) en kan vertrouwelijke "
    "informatie bevatten. Bent u niet de geadresseerde, verwijder dit bericht dan en informeer "
    "de afzender. Aan dit bericht kunnen geen rechten worden ontleend.",
    "en": "This e-mail and any attachments are confidential and intended solely for the addressee. "
    "If you have received it in error, please notify the sender and delete it. Any views "
    "expressed are those of the author and not necessarily of the company.",
    "de": "Diese E-Mail enthält vertrauliche und/oder rechtlich geschützte Informationen. Wenn Sie "
    "nicht der richtige Adressat sind, informieren Sie bitte sofort den Absender und vernichten "
    "Sie diese Mail. Geschäftsführer: M. Fischer, Amtsgericht München HRB 123456.",
    "fr": "Ce message et ses pièces jointes sont confidentiels et destinés exclusivement à leurs "
    "destinataires. Si vous avez reçu ce message par erreur, merci d'en avertir l'expéditeur et "
    "de le supprimer. Toute diffusion non autorisée est interdite.",
}
MOBILE = {
    "nl": [
        "Verzonden vanaf mijn iPhone",
        "Outlook voor Android downloaden",
        "Verstuurd vanaf mijn Samsung",
    ],
    "en": ["Sent from my iPhone", "Get Outlook for Android", "Sent from my Galaxy"],
    "de": [
        "Von meinem iPhone gesendet",
        "Outlook für Android herunterladen",
        "Gesendet von meinem Samsung",
    ],
    "fr": ["Envoyé de mon iPhone", "Télécharger Outlook pour Android", "Envoyé depuis mon Samsung"],
}
FORWARD_NOTES = {
    "nl": [
        "Zie hieronder.",
        "Zie onderstaande mail van een collega, kunnen jullie helpen?",
        "Ter info, graag oppakken.",
        "Doorgestuurd van mijn collega.",
        "FYI, kunnen jullie hiernaar kijken?",
    ],
    "en": [
        "See below.",
        "Forwarding this from a colleague, can you help?",
        "FYI, please pick this up.",
        "See the mail below from our office manager.",
        "Can you look at this please?",
    ],
    "de": [
        "Siehe unten.",
        "Weitergeleitet von einer Kollegin, können Sie helfen?",
        "Zur Info, bitte übernehmen.",
        "Bitte die Mail unten beachten.",
        "Können Sie sich das ansehen?",
    ],
    "fr": [
        "Voir ci-dessous.",
        "Je vous transfère le message d'un collègue, pouvez-vous aider ?",
        "Pour info, merci de prendre en charge.",
        "Voir le mail ci-dessous de notre assistante.",
        "Pouvez-vous regarder ?",
    ],
}
# (header of a quote or forward block, the prefix of its subject) per language.
OUTLOOK_HEADERS = {
    "nl": (
        "Van: {name} <{addr}>\nVerzonden: dinsdag 4 november 2025 10:12\nAan: {to}\nOnderwerp: {subject}",
        "Doorst: ",
        "RE: ",
    ),
    "en": (
        "From: {name} <{addr}>\nSent: Tuesday, November 4, 2025 10:12 AM\nTo: {to}\nSubject: {subject}",
        "FW: ",
        "RE: ",
    ),
    "de": (
        "Von: {name} <{addr}>\nGesendet: Dienstag, 4. November 2025 10:12\nAn: {to}\nBetreff: {subject}",
        "WG: ",
        "AW: ",
    ),
    "fr": (
        "De : {name} <{addr}>\nEnvoyé : mardi 4 novembre 2025 10:12\nÀ : {to}\nObjet : {subject}",
        "TR : ",
        "RE : ",
    ),
}
GMAIL_FORWARD = {
    "nl": "---------- Doorgestuurd bericht ---------\nVan: {name} <{addr}>\nDate: di 4 nov 2025 om 10:12\n"
    "Subject: {subject}\nTo: {to}",
    "en": "---------- Forwarded message ---------\nFrom: {name} <{addr}>\nDate: Tue, 4 Nov 2025 at 10:12\n"
    "Subject: {subject}\nTo: {to}",
    "de": "---------- Weitergeleitete Nachricht ---------\nVon: {name} <{addr}>\nDate: Di., 4. Nov. 2025 um 10:12\n"
    "Subject: {subject}\nTo: {to}",
    "fr": "---------- Forwarded message ---------\nDe : {name} <{addr}>\nDate: mar. 4 nov. 2025 à 10:12\n"
    "Subject: {subject}\nTo: {to}",
}
GMAIL_QUOTE = {
    "nl": "Op di 4 nov 2025 om 10:12 schreef {name} <{addr}>:",
    "en": "On Tue, 4 Nov 2025 at 10:12, {name} <{addr}> wrote:",
    "de": "Am Di., 4. Nov. 2025 um 10:12 Uhr schrieb {name} <{addr}>:",
    "fr": "Le mar. 4 nov. 2025 à 10:12, {name} <{addr}> a écrit :",
}
SUPPORT_REPLIES = {
    "nl": "Beste klant,\n\nBedankt voor uw melding. Wij hebben het probleem opgelost en sluiten het ticket.\n"
    "Met vriendelijke groet,\nContoso Cloud Support",
    "en": "Hello,\n\nThanks for reaching out. We have resolved the issue and will close the ticket.\n"
    "Kind regards,\nContoso Cloud Support",
    "de": "Guten Tag,\n\nvielen Dank für Ihre Meldung. Das Problem ist behoben, wir schließen das Ticket.\n"
    "Viele Grüße\nContoso Cloud Support",
    "fr": "Bonjour,\n\nMerci pour votre message. Le problème est résolu, nous clôturons le ticket.\n"
    "Cordialement,\nContoso Cloud Support",
}


def _address(name: str) -> str:
    first = name.split()[0].lower().replace("é", "e").replace("è", "e").replace("ï", "i")
    return f"{first}@fabrikam.example"


_GREETED = re.compile(
    r"(?i)^(hi|hoi|hallo|hello|hey|beste|goede|guten|sehr geehrte|liebe|moin|bonjour|madame|dear|good)\b"
)


def _framed(body: str) -> bool:
    """A mail written with its own greeting and sign-off (several paragraphs) is left as it is."""
    return body.count("\n\n") >= 2


def _signature(rng: random.Random, language: str, name: str) -> str:
    lines = [rng.choice(CLOSINGS[language]), name]
    if rng.random() < 0.35:
        lines += [
            rng.choice(ROLES[language]),
            rng.choice(COMPANIES),
            f"T +31 {rng.randint(10, 99)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
        ]
        if rng.random() < 0.4:
            lines.insert(2, "--")
    if rng.random() < 0.15:
        lines += ["", DISCLAIMERS[language]]
    return "\n".join(lines)


def _dressed(rng: random.Random, language: str, body: str, name: str) -> str:
    """The request as its writer sends it: greeting, text, sign-off, signature."""
    if _framed(body):
        parts = [body]
        if rng.random() < 0.2:
            parts.append(DISCLAIMERS[language])
        return "\n\n".join(parts)
    parts = []
    if rng.random() < 0.65 and not _GREETED.match(body):
        parts.append(rng.choice(GREETINGS[language]))
    parts.append(body)
    if rng.random() < 0.15:
        parts.append(rng.choice(MOBILE[language]))
    elif rng.random() < 0.75:
        parts.append(_signature(rng, language, name))
    return "\n\n".join(parts)


def _quoted_history(
    rng: random.Random, language: str, others: list[Written], name: str
) -> tuple[str, str]:
    """An earlier mail quoted below the new text: a support reply, or another request of the
    corpus (of any intent: the quoted history must not decide). Returns (block, its subject)."""
    if rng.random() < 0.4:
        quoted, subject, sender = (
            SUPPORT_REPLIES[language],
            "[CONTOSO#1187] Uw melding",
            "Contoso Support",
        )
        addr = "support@contoso.example"
    else:
        other = rng.choice([o for o in others if o.language == language] or others)
        quoted, subject, sender, addr = other.body, other.subject, name, _address(name)
    if rng.random() < 0.5:
        header, _, reply = OUTLOOK_HEADERS[language]
        block = header.format(name=sender, addr=addr, to="support@contoso.example", subject=subject)
        rule = rng.choice(["________________________________", "-----Original Message-----", ""])
        return f"{rule}\n{block}\n\n{quoted}".strip(), reply + subject
    head = GMAIL_QUOTE[language].format(name=sender, addr=addr)
    return head + "\n" + "\n".join(
        "> " + line if line else ">" for line in quoted.split("\n")
    ), "Re: " + subject


def _forward(
    rng: random.Random, language: str, note: str, mail: Written, forwarded: str, colleague: str
) -> tuple[str, str]:
    """A colleague's mail forwarded, with a short note on top: (body, subject)."""
    if rng.random() < 0.5:
        header, forward, _ = OUTLOOK_HEADERS[language]
        block = header.format(
            name=colleague, addr=_address(colleague), to="it@fabrikam.example", subject=mail.subject
        )
        head = "________________________________\n" + block
    else:
        forward = "Fwd: "
        head = GMAIL_FORWARD[language].format(
            name=colleague, addr=_address(colleague), to="it@fabrikam.example", subject=mail.subject
        )
    subject = (
        mail.subject
        if re.match(r"(?i)(fwd?|fw|wg|tr|doorst)\s?:", mail.subject)
        else forward + mail.subject
    )
    return f"{note}\n\n{head}\n\n{forwarded}", subject


def built(mail: Written, others: list[Written]) -> dict[str, str]:
    rng = random.Random(mail.key)
    name = rng.choice(NAMES[mail.language])
    subject = mail.subject
    if mail.forwarded:
        colleague = rng.choice(NAMES[mail.language])
        body, subject = _forward(rng, mail.language, mail.body, mail, mail.forwarded, colleague)
        kind = "forward"
    elif rng.random() < 0.08 and not _framed(mail.body):
        note = rng.choice(FORWARD_NOTES[mail.language])
        colleague = rng.choice(NAMES[mail.language])
        request = _dressed(rng, mail.language, mail.body, colleague)
        body, subject = _forward(rng, mail.language, note, mail, request, colleague)
        kind = "forward"
    else:
        body, kind = _dressed(rng, mail.language, mail.body, name), "mail"
        if rng.random() < 0.22:
            history, history_subject = _quoted_history(rng, mail.language, others, name)
            body = f"{body}\n\n{history}"
            kind = "reply"
            if rng.random() < 0.3:
                subject = history_subject  # the customer answered an old mail about something else
    source = "written" + (" misleading" if mail.misleading else "") + f" {kind}"
    return {
        "subject": subject,
        "text": body,
        "language": mail.language,
        "intent": mail.intent,
        "source": source,
    }


def main() -> None:
    written = [m for intent in INTENTS for m in read_written(CORPUS / "written" / f"{intent}.txt")]
    held_out = []
    for intent in INTENTS:
        lines = []
        for mail in (m for m in written if m.intent == intent):
            others = [o for o in written if o.intent != intent]
            line = json.dumps(built(mail, others), ensure_ascii=False)
            (held_out if int(mail.key, 16) % HELD_OUT_SHARE == 0 else lines).append(line)
        (CORPUS / f"{intent}.jsonl").write_text("\n".join(lines) + "\n")
    (CORPUS / "heldout" / "heldout.jsonl").parent.mkdir(exist_ok=True)
    (CORPUS / "heldout" / "heldout.jsonl").write_text("\n".join(held_out) + "\n")
    print(f"{len(written)} mails, {len(held_out)} held out")


if __name__ == "__main__":
    main()

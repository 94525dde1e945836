"""The envelope sender as its owner wrote it, under the rewriting that mail systems do.

Exchange Online, Barracuda and other filters sign the envelope sender against backscatter
(BATV, `prvs=TAG=jan@contoso.example`), and forwarders rewrite it for SPF (the Sender Rewriting
Scheme, `SRS0=HASH=TT=contoso.example=jan@forwarder.example`). Whoever checks who sent a mail
must look through both.
"""

from __future__ import annotations

import re

# BATV (draft-levine-smtp-batv): prvs=TAG=local; Barracuda's btv1==TAG==local; the msprvs1= of
# some Microsoft and Mimecast systems. The tag is letters and digits.
_BATV = re.compile(r"(?:prvs|msprvs\d*|btv1=)=[0-9a-z]+=(?:=)?(.+)", re.IGNORECASE)
# SRS0=HASH=TT=domain=local (the local part may itself contain "="); SRS1 wraps an SRS0
# address once more: SRS1=HASH=forwarder==HASH=TT=domain=local.
_SRS0 = re.compile(r"srs0[=+-][^=]+=[^=]+=([^=]+)=(.+)", re.IGNORECASE)
_SRS1 = re.compile(r"srs1[=+-][^=]+=[^=]+==[^=]+=[^=]+=([^=]+)=(.+)", re.IGNORECASE)


def original_sender(address: str) -> str:
    """The address before BATV and SRS rewriting, lower case; unchanged when not rewritten.

    >>> original_sender("prvs=0123456789=Jan@Contoso.example")
    'jan@contoso.example'
    >>> original_sender("SRS0=HHH=TT=contoso.example=jan@forwarder.example")
    'jan@contoso.example'
    """
    address = address.strip().strip("<>").lower()
    local, at, domain = address.rpartition("@")
    if not at:
        return address
    for _ in range(3):  # a BATV address forwarded with SRS, or the other way round
        if srs := _SRS1.fullmatch(local) or _SRS0.fullmatch(local):
            local, domain = srs[2], srs[1]
        elif batv := _BATV.fullmatch(local):
            local = batv[1]
        else:
            break
    return f"{local}@{domain}"

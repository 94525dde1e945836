from parsers.authresults import Result, passes_for, results_of

HEADER = (
    "mx.contoso.example; dkim=pass (2048-bit key) header.d=contoso.example header.s=s1; "
    "spf=pass smtp.mailfrom=contoso.example; dmarc=pass (p=REJECT) header.from=contoso.example"
)


def test_results_of_the_trusted_host() -> None:
    results = results_of([HEADER], "MX.contoso.example")
    assert Result("dkim", "pass", "contoso.example") in results
    assert Result("dmarc", "pass", "contoso.example") in results
    assert passes_for(results, "contoso.example")


def test_another_hosts_header_is_ignored() -> None:
    forged = HEADER.replace("mx.contoso.example", "mx.evil.example")
    assert results_of([forged], "mx.contoso.example") == []


def test_fail_or_another_domain_does_not_pass() -> None:
    failing = "mx.contoso.example; dkim=fail header.d=contoso.example; dmarc=fail"
    assert not passes_for(results_of([failing], "mx.contoso.example"), "contoso.example")
    other = "mx.contoso.example; dkim=pass header.d=evil.example"
    assert not passes_for(results_of([other], "mx.contoso.example"), "contoso.example")


def test_a_subdomain_sender_passes_with_the_parent_domains_key() -> None:
    results = results_of([HEADER], "mx.contoso.example")
    assert passes_for(results, "eu.contoso.example")


def test_only_results_above_the_first_received_are_trusted() -> None:
    """The trusted MTA writes its results on top; a sender's look-alike comes below the
    Received: of every hop (issue 15)."""
    from parsers.authresults import trusted_header_values

    headers = [
        ("Authentication-Results", "mx.gw.test; dkim=fail header.d=contoso.example"),
        ("Received", "from outside.example by mx.gw.test"),
        ("Authentication-Results", "mx.gw.test; dkim=pass header.d=contoso.example"),
        ("From", "jan@contoso.example"),
    ]
    assert trusted_header_values(headers) == ["mx.gw.test; dkim=fail header.d=contoso.example"]
    assert trusted_header_values(headers[2:]) == [headers[2][1]]  # no Received: at all
    assert trusted_header_values(headers[1:]) == []

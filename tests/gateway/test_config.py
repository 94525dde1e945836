"""gateway/config/: config.toml → one frozen, validated Config, or every problem at once."""

from __future__ import annotations

import dataclasses
import stat
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.config import (
    WHEN_KEYS,
    Config,
    ConfigError,
    load_config,
    parse_duration,
    parse_size,
)
from routing.conditions import CONDITIONS, OPTIONS

PROJECT_ROOT = Path(__file__).resolve().parents[2]

MakeConfig = Callable[[dict[str, Any]], Config]

MINIMAL_TOML = """\
[partner]
name = "Contoso Cloud"
address = "support@contoso.example"
domains = ["contoso.example"]
ticket_tag = "CONTOSO"
{secret_line}

[storage]
url = "{storage_url}"
"""


def write_config(
    folder: Path,
    secret_line: str = 'secret = "unit-test-secret-0123456789"',
    storage_url: str = "sqlite:///var/gateway.db",
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(MINIMAL_TOML.format(secret_line=secret_line, storage_url=storage_url))
    return path


def problems_of(make_config: MakeConfig, data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        make_config(data)
    return caught.value.problems


# --- the shipped config ---


def test_shipped_config_loads() -> None:
    config = load_config(PROJECT_ROOT / "config.toml")

    assert config.partner.address == "support@contoso.example"
    assert config.partner.ticket_tag == "CONTOSO"
    assert [c.id for c in config.customers] == ["fabrikam", "adatum"]
    assert config.support.first_response == timedelta(hours=4)
    assert config.smtp is not None and config.smtp.max_size == 25_000_000
    assert config.storage.url == f"sqlite:///{config.base_dir / 'var' / 'gateway.db'}"


def test_every_rule_condition_the_config_accepts_is_registered_in_routing() -> None:
    assert set(CONDITIONS) | set(OPTIONS) == WHEN_KEYS


# --- durations and sizes ---


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("4h", timedelta(hours=4)),
        ("3d", timedelta(days=3)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        (" 4H ", timedelta(hours=4)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "15", "m", "1.5h", "-5m", "15x", "4 hours", "1h30", 15])
def test_bad_durations_are_refused(text: object) -> None:
    with pytest.raises(ValueError, match="must be a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("25MB", 25_000_000),
        ("25mb", 25_000_000),
        ("25 MB", 25_000_000),
        ("25MiB", 25 * 1024 * 1024),
        ("1.5KB", 1500),
        ("1GB", 10**9),
        ("512", 512),
        (1024, 1024),
    ],
)
def test_sizes(text: object, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "MB", "25TB", "-1", "25 bytes", -3, 2.5, True])
def test_bad_sizes_are_refused(text: object) -> None:
    with pytest.raises(ValueError, match="must be a size"):
        parse_size(text)


def test_a_bad_duration_in_the_file_names_its_key(
    config_data: dict[str, Any], make_config: MakeConfig
) -> None:
    config_data["support"]["first_response"] = "4 hours"

    assert problems_of(make_config, config_data) == [
        'support.first_response: must be a duration such as "90s", "15m", "4h" or "3d", '
        "got '4 hours'"
    ]


# --- ${ENV} expansion ---


def test_environment_variables_are_expanded(
    config_data: dict[str, Any], make_config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_TEST_SECRET", "from-the-environment-0123")
    monkeypatch.setenv("GATEWAY_TEST_DB", "tickets")
    config_data["partner"]["secret"] = "${GATEWAY_TEST_SECRET}"
    config_data["storage"]["url"] = "sqlite:///var/${GATEWAY_TEST_DB}.db"

    config = make_config(config_data)

    assert config.partner.secret == b"from-the-environment-0123"
    assert config.storage.url.endswith("/var/tickets.db")


def test_a_missing_environment_variable_is_named_with_its_key_path(
    config_data: dict[str, Any], make_config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GATEWAY_TEST_UNSET", raising=False)
    config_data["partner"]["secret"] = "${GATEWAY_TEST_UNSET}"
    config_data["customers"][1]["addresses"] = ["${GATEWAY_TEST_UNSET}"]

    problems = problems_of(make_config, config_data)

    assert "partner.secret: environment variable GATEWAY_TEST_UNSET is not set" in problems
    assert (
        "customers[1].addresses[0]: environment variable GATEWAY_TEST_UNSET is not set" in problems
    )


# --- problems name the key path and the reason ---


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change to the config dict: `_set("customers[1].billing", "dirct")`."""

    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for part in parents:
            name, _, index = part.partition("[")
            target = target[name][int(index[:-1])] if index else target[name]
        target[last] = value

    return change


def _add_duplicate_party(data: dict[str, Any]) -> None:
    data["parties"].append(dict(data["parties"][0], name="Northwind again"))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            _set("customers[1].billing", "dirct"),
            'customers[1].billing: must be "direct" or "indirect", got \'dirct\'',
        ),
        (_set("partner.colour", "blue"), "partner.colour: unknown key"),
        (_set("colour", "blue"), "colour: unknown key"),
        (_set("customers[0].tenant_id", "x"), "customers[0].tenant_id: unknown key"),
        (
            _set("partner.address", "not an address"),
            "partner.address: 'not an address' is not a valid address: "
            "An email address must have an @-sign.",
        ),
        (
            _set("partner.address", "support@elsewhere.example"),
            "partner.address: its domain must be one of partner.domains",
        ),
        (
            _set("customers[1].provider", ""),
            'customers[1].provider: is required with billing = "indirect"',
        ),
        (
            _set("customers[1].provider", "tailspin"),
            "customers[1].provider: no [[parties]] entry has id 'tailspin'",
        ),
        (
            _set("agents[1].customers", ["fabrikam", "tailspin"]),
            "agents[1].customers[1]: no [[customers]] entry has id 'tailspin'",
        ),
        (_set("customers[1].id", "fabrikam"), "customers[1].id: 'fabrikam' is used twice"),
        (
            _set("agents[1].address", "JAN@contoso.example"),
            "agents[1].address: 'jan@contoso.example' is used twice",
        ),
        (_add_duplicate_party, "parties[1].id: 'northwind' is used twice"),
        (
            _set("partner.secret", "too-short"),
            "partner.secret: must be at least 16 characters long",
        ),
        (
            _set("customers[0].language", "de"),
            'customers[0].language: must be "en" or "nl", got \'de\'',
        ),
        (
            _set("rules[0].when", {"colour": "red"}),
            "rules[0].when.colour: unknown condition; known: billing, body, confidence, customer, "
            "direct_microsoft, from, has_attachment, header, in_hours, intent, known_issue, "
            "subject, words",
        ),
        (
            _set("rules[0].when", {"intent": "outage"}),
            "rules[0].when.intent: unknown intent 'outage'; known: unavailable, "
            "undocumented_fault, bug, network_outage, regional, subscription, baseline",
        ),
        (
            _set("rules[0].when", {"intent": "bug", "confidence": 1.5}),
            "rules[0].when.confidence: must be from 0 to 1, got 1.5",
        ),
        (
            _set("rules[0].when", {"intent": ["bug"], "confidence": "high"}),
            "rules[0].when.confidence: must be a number from 0 to 1, got 'high'",
        ),
        (
            _set("rules[0].when", {"words": ["x"], "confidence": 0.6}),
            "rules[0].when.confidence: is an option of intent, which is not given",
        ),
        (
            _set("rules[0].then", {"action": "delete"}),
            'rules[0].then.action: must be "handle" or "escalate" or "forward", got \'delete\'',
        ),
    ],
)
def test_each_problem_names_the_key_path_and_reason(
    config_data: dict[str, Any],
    make_config: MakeConfig,
    change: Callable[[dict[str, Any]], None],
    problem: str,
) -> None:
    change(config_data)

    assert problems_of(make_config, config_data) == [problem]


def test_several_problems_are_reported_at_once(
    config_data: dict[str, Any], make_config: MakeConfig
) -> None:
    config_data["customers"][1]["billing"] = "dirct"
    config_data["partner"]["address"] = "nobody"
    config_data["support"]["first_response"] = "soon"
    config_data["agents"][0]["favourite"] = "tea"

    with pytest.raises(ConfigError) as caught:
        make_config(config_data)

    problems = caught.value.problems
    assert len(problems) == 4
    assert {p.partition(":")[0] for p in problems} == {
        "customers[1].billing",
        "partner.address",
        "support.first_response",
        "agents[0].favourite",
    }
    assert str(caught.value).startswith(f"{caught.value.path}: ")


def test_a_missing_required_key_is_reported(
    config_data: dict[str, Any], make_config: MakeConfig
) -> None:
    del config_data["customers"][0]["billing"]

    assert problems_of(make_config, config_data) == ["customers[0].billing: is required"]


def test_a_bad_domain_is_reported_with_the_value_given(
    config_data: dict[str, Any], make_config: MakeConfig
) -> None:
    config_data["customers"][0]["domains"] = ["fabrikam example"]

    problems = problems_of(make_config, config_data)

    [problem] = [p for p in problems if p.startswith("customers[0].domains[0]: ")]
    assert "'fabrikam example'" in problem
    assert "postmaster@" not in problem


def test_a_forward_rule_to_an_unknown_party_is_refused(
    config_data: dict[str, Any], make_config: MakeConfig
) -> None:
    config_data["rules"][0]["then"] = {"action": "forward", "party": "tailspin"}

    problems = problems_of(make_config, config_data)

    assert problems == ["rules[0].then.party: no [[parties]] entry has id 'tailspin'"]


def test_an_invalid_toml_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[partner\nname = 1\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert caught.value.path == path
    [problem] = caught.value.problems
    assert problem.startswith("is not valid TOML: ")


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nowhere.toml")

    assert caught.value.problems == ["cannot be read: No such file or directory"]


# --- secret_file ---


def test_secret_file_is_not_created_without_create_secret(tmp_path: Path) -> None:
    path = write_config(tmp_path, secret_line='secret_file = "var/gateway.secret"')

    config = load_config(path)

    assert config.partner.secret_file == tmp_path / "var" / "gateway.secret"
    assert not (tmp_path / "var" / "gateway.secret").exists()


def test_secret_file_is_created_with_mode_0600_when_asked(tmp_path: Path) -> None:
    path = write_config(tmp_path, secret_line='secret_file = "var/gateway.secret"')
    secret_file = tmp_path / "var" / "gateway.secret"

    config = load_config(path, create_secret=True)

    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert config.partner.secret == secret_file.read_text().strip().encode()
    assert len(config.partner.secret) >= 32
    # The next start reads the same key, so reply addresses already sent stay valid.
    assert load_config(path, create_secret=True).partner.secret == config.partner.secret


def test_secret_and_secret_file_together_are_refused(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        secret_line='secret = "unit-test-secret-0123456789"\nsecret_file = "var/gateway.secret"',
    )

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert caught.value.problems == ["partner.secret: give either secret or secret_file, not both"]


# --- paths relative to the config file ---


def test_relative_sqlite_url_is_resolved_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path / "etc" / "gatewayd")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    config = load_config(path)

    assert config.storage.url == f"sqlite:///{tmp_path / 'etc' / 'gatewayd' / 'var' / 'gateway.db'}"


def test_absolute_sqlite_url_is_kept(tmp_path: Path) -> None:
    path = write_config(tmp_path / "etc", storage_url="sqlite:////srv/gatewayd/gateway.db")

    assert load_config(path).storage.url == "sqlite:////srv/gatewayd/gateway.db"


def test_unknown_storage_url_scheme_is_refused(tmp_path: Path) -> None:
    path = write_config(tmp_path, storage_url="mysql://db/gateway")

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert caught.value.problems == [
        "storage.url: must be a sqlite:/// or postgresql+psycopg:// URL"
    ]


# --- immutability ---


def test_config_objects_are_frozen(config: Config) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.partner = config.partner  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.partner.address = "evil@example.com"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.customers[0].billing = "indirect"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.agents[0].customers = ("*",)  # type: ignore[misc]
    assert isinstance(config.customers, tuple)
    assert isinstance(config.customers[1].addresses, tuple)
    assert isinstance(config.agents[1].queues, tuple)


def test_rule_conditions_cannot_be_changed_after_loading(config: Config) -> None:
    words = dict(config.rules[0].when)["words"]

    with pytest.raises((AttributeError, TypeError)):
        words.append("anything")


def test_rule_conditions_are_checked_when_loading(
    config_data: dict[str, Any], make_config: MakeConfig
) -> None:
    config_data["rules"][0]["when"] = {"subject": "([unclosed", "customer": ["nobody"]}
    config_data["rules"][0]["then"] = {"action": "handle", "priority": "asap"}

    problems = problems_of(make_config, config_data)

    assert problems[0].startswith("rules[0].when.subject: '([unclosed' is not a valid regular")
    assert problems[1] == "rules[0].when.customer: no [[customers]] entry has id 'nobody'"
    assert problems[2].startswith('rules[0].then.priority: must be "low" or "normal"')


def test_a_rule_queue_that_no_agent_works_in_is_refused(
    config_data: dict[str, Any], make_config: MakeConfig
) -> None:
    config_data["rules"][0]["then"] = {"action": "handle", "queue": "nowhere"}

    problems = problems_of(make_config, config_data)

    assert problems == ["rules[0].then.queue: no [[agents]] entry works in queue 'nowhere'"]


def test_smtp_timeout_and_memory_have_defaults_and_are_checked(
    config_data: dict[str, Any], make_config: MakeConfig
) -> None:
    config_data["smtp"] = {"max_size": "25MB"}
    smtp = make_config(config_data).smtp
    assert smtp is not None and (smtp.timeout, smtp.memory) == (timedelta(minutes=5), 0)

    config_data["smtp"] = {"max_size": "25MB", "timeout": "10m", "memory": "200MB"}
    smtp = make_config(config_data).smtp
    assert smtp is not None and (smtp.timeout, smtp.memory) == (timedelta(minutes=10), 200 * 10**6)

    config_data["smtp"] = {"max_size": "25MB", "timeout": "5s", "memory": "10MB"}
    assert problems_of(make_config, config_data) == [
        "smtp.timeout: must be at least 30s (RFC 5321 asks for 5m)",
        "smtp.memory: must hold one message of smtp.max_size at least",
    ]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            _set("smtp", {"max_sessions": 0}),
            "smtp.max_sessions: must be a whole number of at least 1, got 0",
        ),
        (
            _set("smtp", {"max_sessions": 10, "max_sessions_per_ip": 20}),
            "smtp.max_sessions_per_ip: must not exceed smtp.max_sessions",
        ),
        (
            _set("security", {"reply_address_lifetime": "0s"}),
            "security.reply_address_lifetime: must be longer than 0s, got '0s'",
        ),
        (
            _set("agents[0].language", "de"),
            'agents[0].language: must be "en" or "nl", got \'de\'',
        ),
    ],
)
def test_security_keys_name_the_key_and_reason(
    config_data: dict[str, Any],
    make_config: MakeConfig,
    change: Callable[[dict[str, Any]], None],
    problem: str,
) -> None:
    change(config_data)

    assert problems_of(make_config, config_data) == [problem]


def test_security_defaults(config_data: dict[str, Any], make_config: MakeConfig) -> None:
    config_data["smtp"] = {}
    config = make_config(config_data)

    assert config.smtp is not None
    assert (config.smtp.max_sessions, config.smtp.max_sessions_per_ip) == (500, 50)
    assert config.reply_address_lifetime == timedelta(days=90)


def test_an_agent_speaks_the_partners_language_unless_it_names_its_own(
    config_data: dict[str, Any], make_config: MakeConfig
) -> None:
    config_data["partner"]["language"] = "nl"
    config_data["agents"][0].pop("language", None)
    config_data["agents"][1]["language"] = "en"
    config = make_config(config_data)

    assert [agent.language for agent in config.agents[:2]] == ["nl", "en"]


def test_an_agent_queue_that_nothing_sends_to_is_a_warning(
    config_data: dict[str, Any], make_config: MakeConfig
) -> None:
    config_data["agents"][0]["queues"] = ["helpdsk"]
    config = make_config(config_data)

    assert config.warnings[0] == (
        "agents[0].queues[0]: no rule and no default sends tickets to queue 'helpdsk'"
    )
    # Jan was the helpdesk's only agent for Adatum: its tickets would reach nobody there.
    assert (
        "queue 'helpdesk': no agent of it may act on customer 'adatum'; "
        "its tickets go to the admin-agents"
    ) in config.warnings


@pytest.mark.parametrize(
    ("outbound", "problem"),
    [
        (
            {"relay": "smtp.example:465", "tls": True, "starttls": True},
            "outbound.starttls: use either tls or starttls, not both",
        ),
        (
            {"relay": "maildir:var/outgoing", "tls": True},
            "outbound.relay: tls, starttls and ca_file need a host:port relay",
        ),
    ],
)
def test_outbound_tls_settings_that_cannot_work_are_refused(
    config_data: dict[str, Any], make_config: MakeConfig, outbound: dict[str, Any], problem: str
) -> None:
    config_data["outbound"] = outbound

    assert problems_of(make_config, config_data) == [problem]

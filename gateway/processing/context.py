"""What every stage of processing is given: the config, the templates, service health and the
triage model of this installation."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.config import Config
from gateway.delivery.templates import Templates
from gateway.processing.service_health import ServiceHealth
from gateway.processing.triage_model import Triager


@dataclass(frozen=True)
class Context:
    config: Config
    templates: Templates
    health: ServiceHealth = field(default=None)  # type: ignore[assignment]
    triager: Triager = field(default=None)  # type: ignore[assignment]
    # False for `gatewayd import --no-mail`: nothing is queued, and tickets stay closed.
    mail: bool = True

    def __post_init__(self) -> None:
        if self.health is None:
            object.__setattr__(self, "health", ServiceHealth(self.config))
        if self.triager is None:
            object.__setattr__(self, "triager", Triager(self.config.base_dir / "var"))

    @property
    def triages(self) -> bool:
        """Only a policy with rules on intents pays for classifying its mail."""
        return any(key == "intent" for rule in self.config.rules for key, _ in rule.when)

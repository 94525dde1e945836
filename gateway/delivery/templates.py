"""Jinja2 templates of every text the gateway writes, per language, overridable by admins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

SHIPPED = Path(__file__).parent / "templates"


class Templates:
    def __init__(self, override_folder: Path | None = None) -> None:
        self._environments: dict[str, jinja2.Environment] = {}
        self._templates: dict[tuple[str, str], jinja2.Template] = {}
        self._override = override_folder

    def has_language(self, language: str) -> bool:
        """Templates exist in this language (shipped, or in the admin's folder)."""
        folders = [SHIPPED] + ([self._override] if self._override else [])
        return bool(language) and any((folder / language).is_dir() for folder in folders)

    def _environment(self, language: str) -> jinja2.Environment:
        if language not in self._environments:
            folders = [SHIPPED / language, SHIPPED / "en"]
            if self._override:
                folders[:0] = [self._override / language, self._override / "en"]
            self._environments[language] = jinja2.Environment(
                loader=jinja2.FileSystemLoader([str(f) for f in folders]),
                undefined=jinja2.StrictUndefined,  # a typo in a template fails loudly, once
                keep_trailing_newline=True,
                trim_blocks=True,
                lstrip_blocks=True,
                autoescape=False,  # plain-text mail
                # Read once: a changed template is taken on SIGHUP (a new Templates), and a
                # check of the file on every mail cost a stat() each.
                auto_reload=False,
            )
        return self._environments[language]

    def render(self, name: str, language: str, **values: Any) -> str:
        return self._template(name, language).render(**values)

    def _template(self, name: str, language: str) -> jinja2.Template:
        key = (name, language)
        if key not in self._templates:
            template = self._environment(language).get_template(f"{name}.txt")
            # Jinja2 chains the template's globals to the environment's and copies the chain
            # into each render's context: a third of a short render. Neither changes after
            # the environment is made, so one plain copy serves every render.
            template.globals = dict(template.globals)
            self._templates[key] = template
        return self._templates[key]

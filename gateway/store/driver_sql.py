"""Core statements compiled once per dialect and run with the driver's own parameters.

Why: for an executemany, SQLAlchemy builds and converts each row's parameters in Python, and for
the processor's small rows that cost three times what SQLite took to write them
(bench/imap_backlog.py, py-spy). Here a statement is compiled once for a dialect and a set of
keys, and each value goes through its column's own bind processor: the driver receives what
SQLAlchemy would have sent. Statements whose values SQLAlchemy computes at execution time (a
Python-side column default, an `onupdate`) are not compiled here: `compile` returns None and the
caller executes them as usual.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler


@dataclass(frozen=True)
class DriverStatement:
    sql: str
    names: tuple[str, ...]  # of the statement's parameters, in their order
    positional: bool
    processors: dict[str, Callable[[Any], Any]]
    constants: dict[str, Any]  # the statement's own values (`values(state="done")`), processed

    def params(self, row: Mapping[str, Any]) -> Any:
        values = [self._value(name, row) for name in self.names]
        return tuple(values) if self.positional else dict(zip(self.names, values, strict=True))

    def _value(self, name: str, row: Mapping[str, Any]) -> Any:
        if name in self.constants:
            return self.constants[name]
        processor = self.processors.get(name)
        return processor(row[name]) if processor else row[name]

    def executemany(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Through SQLAlchemy's connection, so that its events see the statement and its
        errors are wrapped as for any other."""
        connection.exec_driver_sql(self.sql, [self.params(row) for row in rows])


@functools.cache
def compile(
    statement: Executable, dialect: Dialect, keys: frozenset[str]
) -> DriverStatement | None:
    """`statement` for rows with `keys`, or None where SQLAlchemy must compute values itself."""
    compiled = statement.compile(dialect=dialect, column_keys=sorted(keys))
    assert isinstance(compiled, SQLCompiler)
    if compiled.insert_prefetch or compiled.update_prefetch or compiled.effective_returning:
        return None
    binds = compiled.binds
    names, processors = parameters(compiled, dialect)
    if any(name not in keys and binds[name].required for name in names):
        return None
    constants = {}
    for name in names:
        if name not in keys:
            value = binds[name].effective_value
            constants[name] = processors[name](value) if name in processors else value
    return DriverStatement(str(compiled), names, bool(compiled.positional), processors, constants)


def parameters(
    compiled: SQLCompiler, dialect: Dialect
) -> tuple[tuple[str, ...], dict[str, Callable[[Any], Any]]]:
    """The names of a compiled statement's parameters in their order, and the bind processors
    of those whose type has one."""
    binds = compiled.binds
    names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(binds)
    processors = {
        name: processor
        for name in names
        if (processor := binds[name].type.dialect_impl(dialect).bind_processor(dialect))
    }
    return names, processors

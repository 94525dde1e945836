"""gatewayd: the email ticket gateway of a Microsoft CSP partner. `python gatewayd.py --help`."""

import sys

_OPTIONS_WITH_VALUES = ("--config", "--log-level")


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if _command(arguments) == "run":
        # Before the imports below, which take most of a second: see gateway/runtime/forkserver.py.
        from gateway.runtime import forkserver

        forkserver.start()
    from gateway.cli import main as cli_main

    return cli_main(arguments)


def _command(arguments: list[str]) -> str | None:
    """The first argument that is neither an option nor an option's value."""
    values = iter(arguments)
    for argument in values:
        if argument in _OPTIONS_WITH_VALUES:
            next(values, None)
        elif not argument.startswith("-"):
            return argument
    return None


if __name__ == "__main__":
    sys.exit(main())

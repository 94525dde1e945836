"""gatewayd: the email ticket gateway of a Microsoft CSP partner. `python gatewayd.py --help`."""

import sys

from gateway.cli import main

if __name__ == "__main__":
    sys.exit(main())

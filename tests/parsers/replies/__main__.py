"""Print the figures of the reply sets and what the parser reads wrong in each case."""

from __future__ import annotations

import sys

from tests.parsers.replies import cases, clean_ratio, differences


def main() -> int:
    verbose = "-v" in sys.argv
    for folder in ("dev", "heldout"):
        right, total, wrong = clean_ratio(folder)
        print(f"{folder:8} {right:3}/{total:3} clean ({100 * right / total:5.1f} %)")
        if verbose:
            for case in cases(folder):
                for difference in differences(case):
                    print(f"    {case.name}: {difference}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

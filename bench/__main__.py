"""`python -m bench [name ...]`: run the named benchmarks (default: all)."""

from __future__ import annotations

import importlib
import sys

from bench.harness import save

BENCHMARKS = ["submitter_list", "intake", "feedback", "daily_view"]


def main(names: list[str]) -> None:
    for name in names or BENCHMARKS:
        if name not in BENCHMARKS:
            sys.exit(f"Unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
        print(f"\n## {name}")
        result = importlib.import_module(f"bench.{name}").run()
        print(f"-> {save(name, result)}")


if __name__ == "__main__":
    main(sys.argv[1:])

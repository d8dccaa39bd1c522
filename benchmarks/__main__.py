"""``python -m benchmarks`` lists the benchmarks with their first docstring line;
``python -m benchmarks NAME [ARGS...]`` runs one (the same as ``python -m benchmarks.NAME``).

Example:
    $ python -m benchmarks gateway_overhead --pairs 60
"""

from __future__ import annotations

import ast
import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
HELPERS = {"__init__", "__main__", "common", "indices_common"}


def available() -> dict[str, str]:
    """Benchmark name -> the first line of its docstring (read without importing it)."""
    found = {}
    for path in sorted(HERE.glob("*.py")):
        if path.stem in HELPERS:
            continue
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        found[path.stem] = doc.split("\n\n")[0].replace("\n", " ")
    return found


def main(argv: list[str]) -> int:
    benchmarks = available()
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m benchmarks NAME [ARGS...]\n")
        for name, doc in benchmarks.items():
            print(f"  {name:22} {doc[:100]}")
        return 0
    name = argv[0]
    if name not in benchmarks:
        print(f"no benchmark named {name!r}; run `python -m benchmarks` for the list")
        return 2
    sys.argv = [f"benchmarks.{name}", *argv[1:]]
    runpy.run_module(f"benchmarks.{name}", run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

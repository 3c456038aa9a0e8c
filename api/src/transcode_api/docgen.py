"""Generates the README's TranscodeJob field reference from the model (`make crds`).

`render_reference` walks the structural schema that `transcode_api.crdgen`
builds and prints one Markdown table row per field of `spec` (path, type,
default, description), so the README's reference cannot drift from what
`kubectl explain` shows. `python -m transcode_api.docgen --readme README.md`
rewrites the block between the BEGIN/END markers; `--check` exits 1 when the
committed README is stale. Called by the Makefile's `crds` target and by a
drift test.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from transcode_api import crdgen

BEGIN = "<!-- BEGIN GENERATED: TranscodeJob spec reference (make crds) -->"
END = "<!-- END GENERATED -->"


def _type(node: dict[str, Any]) -> str:
    if node.get("x-kubernetes-int-or-string"):
        return "int or string"
    kind = str(node.get("type", "object"))
    if kind == "array":
        return f"[]{_type(node.get('items', {}))}"
    if "enum" in node:
        return " \\| ".join(str(v) for v in node["enum"])
    return kind


def _rows(node: dict[str, Any], path: str) -> Iterator[tuple[str, str, str, str]]:
    for name, child in (node.get("properties") or {}).items():
        here = f"{path}.{name}"
        default = child.get("default")
        shown = "" if default is None or isinstance(default, dict | list) else f"`{json.dumps(default).strip(chr(34))}`"
        desc = " ".join(str(child.get("description", "")).split()).replace("|", "\\|")
        yield here, _type(child), shown, desc
        inner = child.get("items", child) if child.get("type") == "array" else child
        if inner.get("properties"):
            yield from _rows(inner, here + ("[]" if child.get("type") == "array" else ""))


def render_reference() -> str:
    spec = crdgen.build_schema()["properties"]["spec"]
    lines = [BEGIN, "", "| field | type | default | description |", "| --- | --- | --- | --- |"]
    lines += [f"| `{p}` | {t} | {d} | {desc} |" for p, t, d, desc in _rows(spec, "spec")]
    return "\n".join([*lines, "", END])


def splice(readme: str) -> str:
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < 0:
        raise ValueError(f"README lacks the markers {BEGIN!r} ... {END!r}")
    return readme[:start] + render_reference() + readme[end + len(END):]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="TranscodeJob field reference for the README")
    ap.add_argument("--readme", default="README.md")
    ap.add_argument("--check", action="store_true", help="exit 1 when the README is stale")
    args = ap.parse_args(argv)
    path = pathlib.Path(args.readme)
    current = path.read_text()
    fresh = splice(current)
    if args.check:
        if fresh != current:
            print(f"{path} field reference is stale: run `make crds`", file=sys.stderr)
            return 1
        return 0
    path.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())

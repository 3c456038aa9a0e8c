"""Read the job to run: the frozen spec from the Pod's environment, or a YAML file.

`cli` calls `from_env` in a Pod (`TRANSCODER_JOB_SPEC`, written by the operator
with `TranscodeJobSpec.to_json`) and `from_file` for `run --spec job.yaml`. A
file may hold a whole TranscodeJob manifest or just its spec. Standalone runs
may also name local files as source and destinations, which the API model
(made for the cluster) refuses; they are validated with stand-in s3:// URLs and
put back afterwards, so every other rule still applies. Both raise
`errors.BadInput` with the model's one-line field messages.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from transcode_api import errors as api_errors
from transcode_api import spec
from transcode_runner.domain import errors

_STAND_IN = "s3://local-file/{}"


@dataclass(frozen=True)
class Job:
    """A spec to run and the name it runs under."""

    spec: spec.TranscodeJobSpec
    name: str | None = None
    namespace: str | None = None


def from_env(text: str | None, name: str | None, namespace: str | None) -> Job:
    """The frozen spec from `TRANSCODER_JOB_SPEC`."""
    if not text:
        raise errors.BadInput("no job: TRANSCODER_JOB_SPEC is empty (use run --spec FILE)",
                              reason="InvalidSpec")
    try:
        return Job(spec.TranscodeJobSpec.from_json(text), name, namespace)
    except api_errors.SpecError as exc:
        raise errors.BadInput(str(exc), reason="InvalidSpec") from exc


def from_file(path: Path) -> Job:
    """A TranscodeJob manifest or a bare spec from a YAML (or JSON) file."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise errors.BadInput(f"cannot read job file {path}: {exc}", reason="InvalidSpec") from exc
    if not isinstance(document, dict):
        raise errors.BadInput(f"job file {path} holds no mapping", reason="InvalidSpec")
    name = namespace = None
    if "spec" in document and isinstance(document["spec"], dict):
        metadata = document.get("metadata") or {}
        name, namespace = metadata.get("name"), metadata.get("namespace")
        document = document["spec"]
    return Job(parse_local(document), name, namespace)


def parse_local(data: dict[str, Any]) -> spec.TranscodeJobSpec:
    """Validate a spec that may use local paths for its source and destinations."""
    data = dict(data)
    local_source = _local(data.get("source"))
    if local_source is not None:
        data["source"] = _STAND_IN.format("source")
    outputs = [dict(o) if isinstance(o, dict) else o for o in data.get("outputs") or []]
    local_outputs: dict[int, str] = {}
    for index, out in enumerate(outputs):
        if isinstance(out, dict) and (target := _local(out.get("destination"))) is not None:
            local_outputs[index] = target
            out["destination"] = _STAND_IN.format(f"output-{index}")
    data["outputs"] = outputs
    try:
        parsed = spec.parse_spec(data)
    except api_errors.SpecError as exc:
        raise errors.BadInput(str(exc), reason="InvalidSpec") from exc
    if not (local_source or local_outputs):
        return parsed
    new_outputs = [
        o.model_copy(update={"destination": local_outputs[i]}) if i in local_outputs else o
        for i, o in enumerate(parsed.outputs)
    ]
    update: dict[str, Any] = {"outputs": new_outputs}
    if local_source is not None:
        update["source"] = local_source
    return parsed.model_copy(update=update)


def _local(value: Any) -> str | None:
    """The path of a local source/destination (plain path or file://), else None."""
    if not isinstance(value, str):
        return None
    scheme = urllib.parse.urlsplit(value).scheme
    if scheme == "file":
        return urllib.parse.unquote(urllib.parse.urlsplit(value).path)
    if scheme == "":
        return str(Path(value).expanduser().resolve())
    return None

"""The TranscodeJob API: one pydantic v2 model from which the CRD is generated.

This is the bottom layer of kube-transcoder; it imports only pydantic, PyYAML
and the standard library. The operator and the runner import its modules
(never names): `constants` (group, exit codes, reasons, env var names,
encoders), `spec` (`TranscodeJobSpec`, `parse_spec`, `check_update`),
`output` (per-output video/audio settings), `placement` (resources,
tolerations), `status` (status, conditions, `status.runner`, the runner's
termination message), `model` (the whole `TranscodeJob` object), `errors`, and
`crdgen` (`python -m transcode_api.crdgen --out crds/`, run by `make crds`).
"""

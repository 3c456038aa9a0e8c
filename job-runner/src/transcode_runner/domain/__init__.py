"""The runner's pure layer: media facts, output decisions, FFmpeg argument lists, errors.

Imported by `transcode_runner.io` and `transcode_runner.app`; it imports only
`transcode_api` and the standard library, never a process, a network client or
NVML (import-linter's forbidden contract in pyproject.toml checks it), so its
unit tests need no fakes at all.
"""

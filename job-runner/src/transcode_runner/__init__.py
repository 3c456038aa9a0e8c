"""The TranscodeJob runner: the program inside a job's Pod, in three layers.

`domain` is pure: the source's facts (`media`, `colorimetry`, `tracks`,
`interlace`), what each output looks like (`render`) and the FFmpeg argument
lists (`graph`, `encoders`, `plan`), progress parsing and the runner's errors.
`io` talks to the outside world through injected seams: it probes NVENC
(`probe`, `gpu`, `nvdec`), inspects files with ffprobe (`mediaprobe`), runs
FFmpeg with a CPU fallback (`encode`), moves the source and outputs
(`transfer`, `s3upload`) and reports to the custom resource, the termination
message and Redis (`report`). `app` composes them: `app.cli.main` is the entry
point (`transcode-runner`, `python -m transcode_runner`) and `app.pipeline.run`
ties the steps together. Imports point down only (app > io > domain), as the
import-linter contracts in pyproject.toml check.
"""

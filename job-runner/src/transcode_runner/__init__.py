"""The TranscodeJob runner: the program inside a job's Pod.

It probes NVENC (`probe`, `gpu`), plans one FFmpeg invocation for every output
(`plan`), downloads the source and uploads the results (`transfer`), encodes
with a CPU fallback (`encode`), and reports progress and the final result to the
custom resource, the termination message and Redis (`report`). `cli.main` is
the entry point (`transcode-runner`); `pipeline.run` ties the steps together.
"""

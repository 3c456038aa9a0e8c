"""The runner's edge: FFmpeg/ffprobe processes, files, NVML, S3, Kubernetes and Redis.

Every module here reaches the outside world only through a seam it is given
(`seams.ProcessRunner` and `seams.Clock`, the NVML binding, the S3 client, the
API and Redis clients), so unit tests pass fakes. It uses `transcode_runner.domain`
for every decision and is composed by `transcode_runner.app`.
"""

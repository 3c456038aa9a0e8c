"""Development infrastructure that tests, benchmarks and the demo import (not tests).

`cluster` (the local control plane, node agent, kubelet-node and Helm/S3
build scripts), `services` (S3 server, Redis, process helpers), `stack` (the
whole local stack for the demo and `make bench`), `demo` (`make demo`),
`media` (sample sources made with FFmpeg), `operators` (the real operator
as a local process) and `chaos`/`chaospods` (real-runner jobs while the operator is
SIGKILLed at random). `tests/` keeps only tests.
"""

"""Chaos: 30 real-runner jobs finish right while the operator is SIGKILLed every 1–5 s.

The jobs run the runner image as real containers on the session cluster's real
kubelet nodes (`operator` fixture), against the real S3 server, two outputs each
(`dev.chaos`): most
succeed at once; five are flaky (a relay answers 503 SlowDown to every request for
their source until the first attempt's Pod has failed Transient) and must succeed on
their second attempt; three name a missing source and must fail BadInput after one
attempt. A thread SIGKILLs the operator at a random moment 1–5 s after each start and
restarts it, for the whole run. At the end: every job ended as its input says, exactly
one Pod per attempt (every Pod the watch ever saw), attempts ≤ backoffLimit + 1, one
`Created` Event per attempt, no multipart upload left open, and every output's bytes
in S3 match the size and checksum its status reports. The counts are printed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dev import chaos
from dev.cluster.fixtures import Kube
from dev.services import s3server

JOBS = 30


@pytest.mark.timeout(900)  # the run takes about 4 min; the kubelet cluster's start counts too
def test_thirty_jobs_end_right_while_the_operator_is_killed_every_few_seconds(
        kube: Kube, operator: Any, s3_server: s3server.S3Server,
        tmp_path: Path) -> None:
    ns = kube.namespace("chaos")
    op = operator(ns, **chaos.operator_settings(ns))
    jobs = chaos.cases(JOBS)
    report = chaos.run(kube, ns, s3_server, op, tmp_path, jobs, kill=True, timeout=480)
    counts = report.counts()
    print("chaos counts:", json.dumps(counts))
    assert report.lost == [], report.lost
    assert report.duplicate_pods == 0, report.pods
    assert report.over_limit == [], report.over_limit
    assert report.event_mismatches == [], {j: (report.pods[j], report.created_events.get(j))
                                           for j in report.event_mismatches}
    assert report.open_uploads == [], report.open_uploads
    assert report.bad_outputs == [], report.bad_outputs
    flaky = [c.name for c in jobs if c.kind == "flaky"]
    assert all(report.slowdowns[name] > 0 for name in flaky), report.slowdowns  # it happened
    assert all(report.outcomes[name][2] == 2 for name in flaky), report.outcomes
    assert counts["succeeded"] == sum(c.kind != "bad" for c in jobs)
    assert counts["verified_outputs"] == 2 * counts["succeeded"]
    assert report.kills >= report.seconds / 20  # killed all along (a restart takes seconds)

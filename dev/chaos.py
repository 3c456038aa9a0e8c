"""The chaos run: real-runner jobs on kubelet nodes while the operator is SIGKILLed at random.

Used by tests/e2e/test_operator_chaos.py (30 jobs, asserts the report) and
bench/chaos.py (100 jobs, with and without kills side by side, prints it).
`cases(n)` mixes the jobs: most read a shared clip; one in six is flaky (its source
goes through a `dev.services.s3relay.Hold` relay that answers 503 SlowDown to every
request for it until its first attempt's Pod has failed, so the real runner exits
Transient and the operator must retry); one in ten names a missing source (the real
runner exits BadInput: no retry). `run(...)` makes the sources, starts a
`dev.chaospods.Ledger` (a watch that records every Pod ever created), the
`dev.chaospods.Killer` (SIGKILL and restart every 1–5 s) when asked, creates the
jobs, waits until every job is Succeeded or Failed, and returns a `Report`: what each
job ended as against what its input says, Pods per attempt, `Created` Events per
attempt, multipart uploads still open in any bucket, and outputs whose bytes in S3 do
not match the size and checksum the status reports. Nothing here asserts.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dev import chaospods, corpus, realrunner
from dev import operators as opf
from dev.cluster.fixtures import Kube
from dev.services import s3relay, s3server

BACKOFF_LIMIT = 2
FAST_BACKOFF = {"retry__backoff_base_seconds": 1, "retry__backoff_cap_seconds": 4}
OUTPUTS = ({"codec": "h264", "preset": "ultrafast", "height": 90},
           {"codec": "h264", "preset": "ultrafast", "height": 72})
"""The two renditions of every job (the source is a 2 s 160x90 clip)."""
CREATED = re.compile(r"\(attempt (\d+),")


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # "ok", "flaky" (Transient first attempt, then success) or "bad" (BadInput)

    @property
    def expected(self) -> tuple[str, str | None]:
        return ("Failed", "BadInput") if self.kind == "bad" else ("Succeeded", None)


def cases(n: int) -> list[Case]:
    """`n` jobs: every 6th flaky (5, 11, …), every 10th with a missing source (4, 14, …;
    never a flaky one), the rest ok: 30 jobs are 5 flaky, 3 bad and 22 ok."""
    def kind(i: int) -> str:
        return "flaky" if i % 6 == 5 else "bad" if i % 10 == 4 else "ok"
    return [Case(f"chaos-{i:03d}", kind(i)) for i in range(n)]


@dataclass
class Report:
    jobs: int
    seconds: float
    kills: int
    outcomes: dict[str, tuple[str | None, str | None, int]] = field(default_factory=dict)
    """job → (phase, reason, attempts) as the status says at the end."""
    lost: list[str] = field(default_factory=list)
    """Jobs that did not end as their input says (or not at all)."""
    pods: dict[str, dict[int, int]] = field(default_factory=dict)
    """job → attempt → Pods created for it (from the watch)."""
    created_events: dict[str, dict[int, int]] = field(default_factory=dict)
    over_limit: list[str] = field(default_factory=list)
    open_uploads: list[str] = field(default_factory=list)
    bad_outputs: list[str] = field(default_factory=list)
    verified_outputs: int = 0
    slowdowns: dict[str, int] = field(default_factory=dict)
    """flaky job → 503 SlowDown answers its source got (its first attempt's retries)."""

    @property
    def duplicate_pods(self) -> int:
        return sum(n - 1 for per in self.pods.values() for n in per.values() if n > 1)

    @property
    def event_mismatches(self) -> list[str]:
        """Jobs whose `Created` Events are not exactly one per attempt that has a Pod."""
        return [job for job, per in self.pods.items()
                if self.created_events.get(job, {}) != dict.fromkeys(per, 1)]

    def counts(self) -> dict[str, Any]:
        phases = [o[0] for o in self.outcomes.values()]
        return {"jobs": self.jobs, "succeeded": phases.count("Succeeded"),
                "failed": phases.count("Failed"), "lost": len(self.lost),
                "pods": sum(sum(p.values()) for p in self.pods.values()),
                "attempts": sum(o[2] for o in self.outcomes.values()),
                "duplicate_pods": self.duplicate_pods,
                "created_events": sum(sum(e.values()) for e in self.created_events.values()),
                "event_mismatches": len(self.event_mismatches),
                "over_backoff_limit": len(self.over_limit),
                "open_uploads": len(self.open_uploads),
                "verified_outputs": self.verified_outputs,
                "bad_outputs": len(self.bad_outputs),
                "slowdowns": sum(self.slowdowns.values()), "kills": self.kills,
                "seconds": round(self.seconds, 1)}


def _source_path(ns: str, case: Case) -> str:
    return f"/media-in/{ns}/{case.name}.mp4"


def prepare(kube: Kube, ns: str, s3: s3server.S3Server, folder: Path,
            jobs: list[Case], hold: s3relay.Hold) -> None:
    """Secret, RBAC and buckets in `ns`; the shared clip and one copy per flaky job (held)."""
    realrunner.prepare(kube, ns, s3)
    client = s3.client()
    clip = corpus.progressive(folder / "clip.mp4", size="160x90", seconds=2.0, audio=True)
    client.upload_file(str(clip), "media-in", f"{ns}/clip.mp4")
    for case in jobs:
        if case.kind == "flaky":
            client.copy_object(Bucket="media-in", Key=f"{ns}/{case.name}.mp4",
                               CopySource={"Bucket": "media-in", "Key": f"{ns}/clip.mp4"})
            hold.hold(_source_path(ns, case))


def manifest(ns: str, case: Case, s3: s3server.S3Server, hold: s3relay.Hold) -> dict[str, Any]:
    source = {"ok": f"s3://media-in/{ns}/clip.mp4",
              "bad": f"s3://media-in/{ns}/{case.name}-missing.mp4"}.get(
        case.kind, f"s3://media-in/{ns}/{case.name}.mp4")
    body = realrunner.job(case.name, s3, source, outputs=len(OUTPUTS),
                          backoffLimit=BACKOFF_LIMIT, acceleration={"mode": "cpu"})
    for i, (out, video) in enumerate(zip(body["spec"]["outputs"], OUTPUTS, strict=True)):
        out["video"] = dict(video)
        out["destination"] = f"s3://media-out/{ns}/{case.name}/{i}.mp4"
    if case.kind == "flaky":
        body["spec"]["storage"]["endpoint"] = hold.endpoint
    return body


def operator_settings(ns: str) -> dict[str, Any]:
    """Real-runner settings with fast backoff and a fixed leader identity: a restarted
    operator renews its own Lease at once, as a container restarted in place does (its
    identity is the Pod name and pid 1); without it each restart waits out the Lease."""
    return realrunner.settings(**FAST_BACKOFF, leader_election__identity=f"chaos-{ns}")


def run(kube: Kube, ns: str, s3: s3server.S3Server, op: opf.OperatorProcess, folder: Path,
        jobs: list[Case], *, kill: bool, timeout: float) -> Report:
    """Run `jobs` in `ns` (prepared by `prepare`, served by `op`, already started) and
    report; with `kill`, SIGKILL and restart `op` every 1–5 s until all have ended."""
    hold = s3relay.Hold(s3.port)
    prepare(kube, ns, s3, folder, jobs, hold)
    flaky = {c.name: _source_path(ns, c) for c in jobs if c.kind == "flaky"}

    def first_attempt_failed(job: str, attempt: int) -> None:
        if attempt == 1 and job in flaky:
            hold.release(flaky[job])

    ledger = chaospods.Ledger(kube, ns, on_failed=first_attempt_failed).start()
    killer = chaospods.Killer(op) if kill else None
    began = time.monotonic()
    try:
        if killer is not None:
            killer.start()
        for case in jobs:
            opf.create_job(kube, ns, manifest(ns, case, s3, hold))
        final = _wait_all(kube, ns, len(jobs), began + timeout)
        seconds = time.monotonic() - began
    finally:
        if killer is not None:
            killer.stop()
        ledger.stop()
        hold.close()
    report = Report(len(jobs), seconds, killer.kills if killer else 0)
    report.slowdowns = {job: hold.refused.get(path, 0) for job, path in flaky.items()}
    _judge(report, jobs, final, ledger, kube, ns)
    _check_s3(report, s3, ns, final, folder)
    return report


def _wait_all(kube: Kube, ns: str, n: int, deadline: float) -> dict[str, dict[str, Any]]:
    """The jobs' status once all `n` are Succeeded or Failed (or at `deadline`)."""
    while True:
        items = opf.custom(kube).list_namespaced_custom_object(
            opf.GROUP, opf.VERSION, ns, opf.PLURAL)["items"]
        final = {j["metadata"]["name"]: j.get("status") or {} for j in items}
        done = [s for s in final.values() if s.get("phase") in ("Succeeded", "Failed")]
        if len(done) >= n or time.monotonic() > deadline:
            return final
        time.sleep(1.0)


def _judge(report: Report, jobs: list[Case], final: dict[str, dict[str, Any]],
           ledger: chaospods.Ledger, kube: Kube, ns: str) -> None:
    report.pods = ledger.per_attempt()
    for item in opf.core(kube).list_namespaced_event(
            ns, field_selector="involvedObject.kind=TranscodeJob,reason=Created").items:
        found = CREATED.search(item.message or "")
        attempt = int(found.group(1)) if found else 0
        per = report.created_events.setdefault(item.involved_object.name, {})
        per[attempt] = per.get(attempt, 0) + (item.count or 1)
    for case in jobs:
        status = final.get(case.name, {})
        attempts = int(status.get("attempts") or 0)
        report.outcomes[case.name] = (status.get("phase"), status.get("reason"), attempts)
        phase, reason = case.expected
        if status.get("phase") != phase or (reason and status.get("reason") != reason) \
                or (case.kind == "flaky" and attempts < 2):
            report.lost.append(f"{case.name} ({case.kind}): {status.get('phase')} "
                               f"{status.get('reason')} after {attempts} attempts: "
                               f"{status.get('message')}")
        if attempts > BACKOFF_LIMIT + 1 or set(report.pods.get(case.name, {})) != set(
                range(1, attempts + 1)):
            report.over_limit.append(f"{case.name}: attempts {attempts}, Pods of attempts "
                                     f"{sorted(report.pods.get(case.name, {}))}")


def _check_s3(report: Report, s3: s3server.S3Server, ns: str,
              final: dict[str, dict[str, Any]], folder: Path) -> None:
    """Multipart uploads open under `<bucket>/<ns>/`; outputs checked against the status."""
    client = s3.client()
    for bucket in (b["Name"] for b in client.list_buckets().get("Buckets", [])):
        for upload in client.list_multipart_uploads(Bucket=bucket, Prefix=f"{ns}/").get(
                "Uploads", []):
            report.open_uploads.append(f"s3://{bucket}/{upload['Key']} ({upload['UploadId']})")
    for name, status in sorted(final.items()):
        if status.get("phase") != "Succeeded":
            continue
        where = folder / "downloads" / name
        where.mkdir(parents=True, exist_ok=True)
        try:
            if len(status.get("outputs") or []) != len(OUTPUTS):
                raise AssertionError(f"{len(status.get('outputs') or [])} outputs in status")
            realrunner.verify_outputs(s3, status, where)
            report.verified_outputs += len(status["outputs"])
        except AssertionError as exc:
            report.bad_outputs.append(f"{name}: {exc}")

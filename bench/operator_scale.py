"""Benchmark: 1,000 TranscodeJobs through the operator vs 1,000 batch/v1 Jobs through
kube-controller-manager's Job controller, on the same local cluster in the same run.

    .venv/bin/python bench/operator_scale.py [--jobs 1000] [--simulate 10] [--growth 1000,3000,10000]

It starts the local control plane with the node agent in simulate mode (every
Pod "runs" for --simulate seconds and exits 0; a TranscodeJob's Pod reports a
RunnerResult through KT_SIMULATED_TERMINATION_MESSAGE), then takes one runner
Pod the operator makes as the Jobs' Pod template (both sides run the same Pod,
so the ratios compare the controllers, not the Pods), then, one after the
other, creates N batch/v1 Jobs and N TranscodeJobs (each all at once, from 32
client threads; the Jobs' namespace is deleted, and waited for, before the
TranscodeJobs start, so both start on the same cluster) and measures the time
until every Pod exists and until every job finished (counted from one watch
each, `bench/apicount.py`, so the bench's own load does not grow with the job
count). It prints both times, their ratio (targets: at most 1.2x the Job
controller), each cluster process's CPU seconds in both windows, the API writes per job made by the operator (from the API
server's apiserver_request_total, excluding progress, which simulate mode does
not produce) broken down by resource (target at most 5), and the operator's
peak RSS (target 120 MB), the CPU seconds its garbage collector took in the burst
(the operator starts with `bench/gcstat` first on its PYTHONPATH) and, per side, the API
requests of every client until all Pods exist, by verb and resource. With --growth it then runs the operator alone at each
size, a fresh operator process and namespace per size on an empty cluster (the
comparison's last namespace, and each row's, deleted and waited for before the next
row), and prints the time per job (finished, and all Pods created) and peak RSS per
1,000 jobs of each row and their ratio to the first row
(target: the largest within 1.3x of the first). It also prints, for each side, the
median time from a Pod's creation to its start, from its end to the API server's
last write of its status, and from its end to the bench's watch seeing its job done
(where the time between "all Pods" and "all finished" goes), and, per window, the API
server's mean latency of the node agent's Pod status patches, the Pod creates and the
job status writes, beside its mean etcd create and update (how much of a write's time it
spends waiting on etcd, or for its own turn to run). Nothing is asserted; timing
claims live here, never in tests.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import resource
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "api/src", ROOT / "operator/src"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench import apicount  # noqa: E402
from kubernetes import client, config  # noqa: E402

from dev import operators as opf  # noqa: E402
from dev.cluster import cluster as local_cluster  # noqa: E402
from dev.cluster.fixtures import Kube  # noqa: E402
from dev.services import procs  # noqa: E402
from transcode_api import status as job_status  # noqa: E402

WRITE_VERBS = ("POST", "PATCH", "PUT", "DELETE")
ALL_VERBS = (*WRITE_VERBS, "GET", "LIST", "WATCH", "APPLY")
SMALL = {"requests": {"cpu": "1m", "memory": "4Mi"}}
METRIC = re.compile(r'^(?P<name>apiserver_request_(total|duration_seconds_sum|duration_seconds_count))'
                    r'\{(?P<labels>[^}]*)\} (?P<value>\S+)$')
LATENCY = (("PATCH", "pods/status", ""), ("POST", "pods", ""),
           ("PATCH", "transcodejobs/status", "kubetranscoder.io"),
           ("PUT", "jobs/status", "batch"))
"""The requests whose mean API server latency the bench prints (the node agent's Pod
status, the controllers' Pod creates and job status writes)."""
ETCD_METRIC = re.compile(r'^etcd_request_duration_seconds_(?P<part>sum|count)'
                         r'\{(?P<labels>[^}]*)\} (?P<value>\S+)$', re.M)
ETCD_OPERATIONS = ("create", "update")
"""The etcd calls whose mean time, as the API server measures it, the bench prints beside
those requests (a write's time in etcd, including the wait for the API server to run)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000, help="jobs of each kind (1000)")
    parser.add_argument("--simulate", type=float, default=10.0,
                        help="seconds each simulated Pod runs (10)")
    parser.add_argument("--timeout", type=float, default=900.0, help="per phase, seconds")
    parser.add_argument("--threads", type=int, default=32, help="client threads creating jobs")
    parser.add_argument("--growth", default="",
                        help="comma-separated job counts for operator-only growth rows")
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate the two sides this many times and print each "
                             "round's ratios and their medians (1)")
    parser.add_argument("--only", choices=("jobs", "operator", "none"),
                        help="run one side only (for quick iterations; no ratio)")
    parser.add_argument("--operator-setting", action="append", default=[], metavar="KEY=VALUE",
                        help="extra operator setting, e.g. kopf__api_workers=32 (repeatable)")
    return parser.parse_args(argv)


def request_totals(kube: Kube, verbs: tuple[str, ...] = WRITE_VERBS
                   ) -> Counter[tuple[str, str, str]]:
    """apiserver_request_total of `verbs` (writes) as (verb, resource[/subresource], group)
    -> count."""
    return _totals(_metrics(kube), verbs, "apiserver_request_total")


def _metrics(kube: Kube) -> str:
    return str(kube.kubectl("get", "--raw", "/metrics").stdout)


def _latency(before: str, after: str) -> dict[str, float]:
    """Mean API server seconds per request of each `LATENCY` kind between two scrapes, and
    per etcd create and update it made in that time (all resources together)."""
    sums = [_totals(t, ALL_VERBS, "apiserver_request_duration_seconds_sum") for t in (before, after)]
    counts = [_totals(t, ALL_VERBS, "apiserver_request_duration_seconds_count")
              for t in (before, after)]
    means = {" ".join(k).strip(): (sums[1][k] - sums[0][k]) / (counts[1][k] - counts[0][k])
             for k in LATENCY if counts[1][k] > counts[0][k]}
    etcd = [_etcd(t) for t in (before, after)]
    for op in ETCD_OPERATIONS:
        n = etcd[1][op, "count"] - etcd[0][op, "count"]
        if n > 0:
            means[f"etcd {op} (by the API server)"] = (etcd[1][op, "sum"] - etcd[0][op, "sum"]) / n
    return means


def _etcd(text: str) -> defaultdict[tuple[str, str], float]:
    """etcd_request_duration_seconds _sum and _count of each `ETCD_OPERATIONS` in one scrape."""
    totals: defaultdict[tuple[str, str], float] = defaultdict(float)
    for m in ETCD_METRIC.finditer(text):
        op = _labels(m.group("labels")).get("operation", "")
        if op in ETCD_OPERATIONS:
            totals[op, m.group("part")] += float(m.group("value"))
    return totals


def _labels(text: str) -> dict[str, str]:
    """A Prometheus sample's labels (the text between its braces) as a dict."""
    return dict(re.findall(r'(\w+)="([^"]*)"', text))


def _totals(text: str, verbs: tuple[str, ...], metric: str) -> Counter[tuple[str, str, str]]:
    """`metric` (apiserver_request_total, or the _sum/_count of
    apiserver_request_duration_seconds) of `verbs` in one scrape, by request kind."""
    totals: Counter[tuple[str, str, str]] = Counter()
    for line in text.splitlines():
        m = METRIC.match(line)
        if not m or m.group("name") != metric:
            continue
        labels = _labels(m.group("labels"))
        if labels.get("verb") not in verbs:
            continue
        resource = labels.get("resource", "")
        if labels.get("subresource"):
            resource += "/" + labels["subresource"]
        value = float(m.group("value"))
        totals[(labels["verb"], resource, labels.get("group", ""))] += \
            int(value) if metric == "apiserver_request_total" else value
    return totals


def _items(list_call: Callable[..., Any]) -> list[dict[str, Any]]:
    """Every item of a list call, in pages of 500 (one unpaged list of 10,000 Pods can
    outlast the API server's request timeout on a loaded machine)."""
    items: list[dict[str, Any]] = []
    token = None
    while True:
        page = json.loads(list_call(limit=500, _continue=token, _preload_content=False).data)
        items += page["items"]
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return items


def create_all(make: Callable[[int], None], n: int, threads: int) -> None:
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(make, range(n)))


def wait_until(what: str, tally: apicount.Tally, n: int, t0: float, timeout: float) -> float:
    """Seconds from t0 until the tally's n-th object (to the watch event)."""
    last = -1
    while True:
        done = tally.count()
        if done != last:
            print(f"  {what}: {done}/{n} at {time.monotonic() - t0:6.1f}s", flush=True)
            last = done
        if done >= n:
            return tally.time_of(n) - t0
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"{what}: only {done}/{n} after {timeout}s")
        time.sleep(0.5)


class CpuClock:
    """CPU seconds each cluster process (and the operator, and this bench) used per window:
    `lap(name)` closes the window that began at the last lap."""

    def __init__(self, kube: Kube, operator_pid: int | None = None) -> None:
        self.pids = {**kube.cluster.pids(), **({"operator": operator_pid} if operator_pid
                                              else {})}
        self.laps: dict[str, dict[str, float]] = {}
        self._last = self._now()

    def _now(self) -> dict[str, float]:
        now = {name: _cpu_seconds(pid) for name, pid in self.pids.items()}
        own = resource.getrusage(resource.RUSAGE_SELF)
        now["bench"] = own.ru_utime + own.ru_stime
        return now

    def lap(self, name: str) -> None:
        now = self._now()
        self.laps[name] = {k: now[k] - self._last.get(k, 0.0) for k in now}
        self._last = now


def burst(kube: Kube, ns: str, jobs_path: str, finished: Callable[[dict[str, Any]], bool],
          make: Callable[[int], None], n: int, args: argparse.Namespace, kind: str,
          operator_pid: int | None = None) -> dict[str, Any]:
    """Create n jobs (`make`) from `args.threads` threads and time, from one watch each,
    until every Pod in `ns` exists and every job under `jobs_path` is `finished`; with
    each process's CPU seconds in those two windows."""
    pods = apicount.Tally(kube.api_client, f"/api/v1/namespaces/{ns}/pods").start()
    done = apicount.Tally(kube.api_client, jobs_path, finished).start()
    cpu = CpuClock(kube, operator_pid)
    scrapes = [_metrics(kube)]
    t0 = time.monotonic()
    try:
        create_all(make, n, args.threads)
        timed: dict[str, Any] = {"create": time.monotonic() - t0}
        timed["pods"] = wait_until(f"{kind} Pods", pods, n, t0, args.timeout)
        cpu.lap("pods")
        scrapes.append(_metrics(kube))
        requests = {" ".join(k).strip(): v for k, v in (
            _totals(scrapes[1], ALL_VERBS, "apiserver_request_total")
            - _totals(scrapes[0], ALL_VERBS, "apiserver_request_total")).items()}
        timed["done"] = wait_until(f"{kind}s finished", done, n, t0, args.timeout)
        cpu.lap("done")
        scrapes.append(_metrics(kube))
        timed["latency"] = (_latency(scrapes[0], scrapes[1]), _latency(scrapes[1], scrapes[2]))
    finally:
        pods.stop()
        done.stop()
    wall = time.time() - time.monotonic()  # the watch's monotonic times, as wall clock
    done_at = {name: at + wall for name, at in done.first.items()}
    return {**timed, "cpu": cpu.laps, "requests": requests, "done_at": done_at}


def job_template(pod: dict[str, Any]) -> dict[str, Any]:
    """A batch/v1 Job's Pod template from a runner Pod the operator made: its spec, less
    what the API server and scheduler added (node, the service-account token volume)."""
    spec = json.loads(json.dumps(pod["spec"]))
    for key in ("nodeName", "priority", "preemptionPolicy"):
        spec.pop(key, None)
    token = {v["name"] for v in spec.get("volumes", []) if v["name"].startswith("kube-api-access")}
    spec["volumes"] = [v for v in spec.get("volumes", []) if v["name"] not in token]
    for c in spec["containers"]:
        c["volumeMounts"] = [m for m in c.get("volumeMounts", []) if m["name"] not in token]
    return {"spec": spec}


def batch_jobs_phase(kube: Kube, n: int, args: argparse.Namespace,
                     template: dict[str, Any]) -> dict[str, float]:
    """N batch/v1 Jobs whose Pod is the runner Pod the operator builds (`job_template`):
    both sides run the same Pod, so the ratios compare the controllers."""
    ns = kube.namespace("bench-jobs")
    batch = client.BatchV1Api(kube.api_client)
    core = client.CoreV1Api(kube.api_client)

    def make(i: int) -> None:
        batch.create_namespaced_job(ns, {
            "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": f"job-{i}"},
            "spec": {"backoffLimit": 3, "template": template}})

    def complete(job: dict[str, Any]) -> bool:
        return any(c["type"] == "Complete" and c["status"] == "True"
                   for c in (job.get("status") or {}).get("conditions", []))

    warm_up = kube.namespace("bench-warmup")
    warmed = apicount.Tally(kube.api_client, f"/apis/batch/v1/namespaces/{warm_up}/jobs",
                            complete).start()
    batch.create_namespaced_job(warm_up, {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "warm-up"},
        "spec": {"template": template}})
    try:
        wait_until("warm-up Job", warmed, 1, time.monotonic(), args.timeout)
    finally:
        warmed.stop()
    before = request_totals(kube)
    timed = burst(kube, ns, f"/apis/batch/v1/namespaces/{ns}/jobs", complete, make, n, args,
                  "Job")
    writes = request_totals(kube) - before
    lags = _lags(_items(lambda **kw: core.list_namespaced_pod(ns, **kw)), timed.pop("done_at"))
    return {**timed, "lags": lags,
            "writes": _per_job(writes, n, ("jobs", "jobs/status", "pods", "events"),
                               exclude_created="jobs")}


def _stamp(text: str | None) -> float | None:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() \
        if text else None


def _lags(pods: list[dict[str, Any]], done_at: dict[str, float]) -> dict[str, float]:
    """Median seconds from a Pod's creation to its start (the node agent's stamps), from
    its end (`finishedAt`) to the API server's last write of its status (managedFields,
    to the second), and from its end to the bench's watch seeing its job done. Both
    sides are timed by the same watch: a TranscodeJob's completionTime is its Pod's
    finishedAt, so it cannot time the operator."""
    start, written, done = [], [], []
    for pod in pods:
        term = (((pod.get("status") or {}).get("containerStatuses") or [{}])[0]
                .get("state") or {}).get("terminated") or {}
        owner = next(iter(pod["metadata"].get("ownerReferences") or []), {})
        created, began = _stamp(pod["metadata"].get("creationTimestamp")), \
            _stamp(term.get("startedAt"))
        ended, seen = _stamp(term.get("finishedAt")), done_at.get(owner.get("name", ""))
        status_times = [_stamp(m.get("time")) for m in pod["metadata"].get("managedFields") or []
                        if m.get("subresource") == "status"]
        last = max((t for t in status_times if t is not None), default=None)
        if created is not None and began is not None:
            start.append(began - created)
        if ended is not None:
            if last is not None:
                written.append(last - ended)
            if seen is not None:
                done.append(seen - ended)
    return {key: statistics.median(values) if values else float("nan")
            for key, values in (("pod_start", start), ("end_written", written),
                                ("end_to_done", done))}


def _per_job(writes: Counter[tuple[str, str, str]], n: int, resources: tuple[str, ...],
             exclude_created: str) -> dict[str, Any]:
    rows = {f"{verb} {res}{' (' + group + ')' if group else ''}": count / n
            for (verb, res, group), count in sorted(writes.items())
            if res in resources and group in ("", "batch", "kubetranscoder.io")
            and not (verb == "POST" and res == exclude_created)}
    return {"by_request": rows, "total": sum(rows.values())}


def operator_phase(kube: Kube, n: int, args: argparse.Namespace,
                   tmp: Path, label: str = "tj", clear: bool = False) -> dict[str, Any]:
    """One operator process and N TranscodeJobs in a fresh namespace; with `clear` the
    namespace is deleted, and waited for, before that operator stops (its finalizer).
    A comparison round's label starts with "tj", a growth row's with "g"."""
    ns = kube.namespace(f"bench-{label}")
    opf.install_crd(kube)
    result = job_status.RunnerResult.model_validate({
        "outcome": "Succeeded", "exitCode": 0, "message": "simulated",
        "outputs": [{"name": "720p", "url": "s3://media-out/x.mp4", "bytes": 1}],
        "metadata": {"gpuEnabled": False, "encoderUsed": "libx264", "processingSpeed": 2.0}})
    # A growth row's operator serves only its own namespaces (a glob), so the jobs of
    # earlier rows cost it nothing; the first row's serves all namespaces.
    scope = f"*{label}-*" if label.startswith("g") else ""
    gc_file = tmp / f"operator-{label}-gc.json"  # bench/gcstat: its collector's CPU time
    op = opf.OperatorProcess(kube, scope, tmp / f"operator-{label}.log", {
        "runner__command": ["true"], "runner__resources": SMALL,
        # the Job's Pods reserve no local storage: the default 2Gi scratch request would
        # let only 100 runner Pods onto the agent's two 100Gi nodes at once
        "runner__scratch_storage_request": "4Mi",
        "runner__extra_env": {"KT_SIMULATED_TERMINATION_MESSAGE":
                              result.to_termination_message()},
        "http__enabled": "false",
        # the chart's leader-election timings, not the tests' short ones (3 s renew
        # deadline): a renewal late under load would stop the operator mid-run
        "leader_election__lease_duration_seconds": "15",
        "leader_election__renew_deadline_seconds": "10",
        "leader_election__retry_period_seconds": "2",
        **dict(a.split("=", 1) for a in args.operator_setting)},
        extra_env={"PYTHONPATH": os.pathsep.join([str(ROOT / "bench/gcstat"), procs.PYTHONPATH]),
                   "KT_GC_STATS": str(gc_file)})
    # the warm-up namespace exists before the operator starts: kopf (1.45) misses a
    # namespace matching its glob that is created while it starts (its namespace watch
    # lists again and ignores what that second list holds), and the warm-up waited forever
    warm_up = kube.namespace(f"bench-warmup-{label}")
    op.start()
    core = client.CoreV1Api(kube.api_client)

    def create(namespace: str, name: str) -> None:
        opf.create_job(kube, namespace, opf.job_manifest(name, acceleration={"mode": "cpu"}))

    def make(i: int) -> None:
        create(ns, f"tj-{i}")

    scheduling: set[int] = set()
    """The jobs (by index) the finish watch saw in phase Scheduling: each is a status
    write more than a job whose first write records its Pod Running."""

    def succeeded(job: dict[str, Any]) -> bool:
        phase = (job.get("status") or {}).get("phase")
        if phase == "Scheduling":
            scheduling.add(int(job["metadata"]["name"].rsplit("-", 1)[1]))
        return phase == "Succeeded"

    try:
        # warm-up: the operator's watches are established and one job went through
        create(warm_up, "warm-up")
        opf.wait_phase(kube, warm_up, "warm-up", "Succeeded", timeout=args.timeout)
        if n == 0:  # only the runner Pod, as the Job side's template
            return {"pod": core.read_namespaced_pod("warm-up-1", warm_up,
                                                    _preload_content=False).json()}
        before = request_totals(kube)
        idle_rss = _rss_mb(op.proc.pid if op.proc else 0)
        gc_before = _gc_seconds(gc_file)
        timed = burst(kube, ns, f"/apis/{opf.GROUP}/{opf.VERSION}/namespaces/{ns}/{opf.PLURAL}",
                      succeeded, make, n, args, "TranscodeJob", op.proc.pid if op.proc else None)
        time.sleep(3)  # let queued Events go out before counting (and bench/gcstat write)
        gc_s = {gen: s - gc_before.get(gen, 0.0) for gen, s in _gc_seconds(gc_file).items()}
        writes = request_totals(kube) - before
        lags = _lags(_items(lambda **kw: core.list_namespaced_pod(ns, **kw)),
                     timed.pop("done_at"))
        rss = _peak_rss_mb(op.proc.pid if op.proc else 0)
        cpu_s = _cpu_seconds(op.proc.pid if op.proc else 0)
        if clear:
            gone = _delete_namespace(kube, f"bench-{label}", wait=args.timeout)
            print(f"  namespace deleted ({gone:.1f}s)")
    finally:
        op.stop()
    per_job = _per_job(writes, n, ("transcodejobs", "transcodejobs/status", "pods", "events"),
                       exclude_created="transcodejobs")
    per_job["scheduling"] = (len(scheduling), sum(1 for i in scheduling if i < n // 10))
    return {**timed, "writes": per_job, "lags": lags, "rss_mb": rss, "idle_rss_mb": idle_rss, "cpu_s": cpu_s, "gc_s": gc_s, "log": str(op.log_path)}


def _gc_seconds(path: Path) -> dict[str, float]:
    """CPU seconds of the operator's garbage collector so far, by generation
    (bench/gcstat writes them every second); empty before the first write."""
    try:
        return {gen: float(s) for gen, s in json.loads(path.read_text())["seconds"].items()}
    except (OSError, ValueError, KeyError):
        return {}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmHWM:")


def _rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmRSS:")


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    c = local_cluster.LocalCluster(
        simulate=args.simulate,
        agent_args=["--pods=5000", "--cpu=1000", "--memory=4000Gi", "--cpu-nodes=2"])
    procs.on_exit(c.stop)
    tmp = Path(c.workdir)
    try:
        c.start()
        cfg = client.Configuration()
        config.load_kube_config(str(c.kubeconfig), client_configuration=cfg)
        cfg.connection_pool_maxsize = args.threads
        kube = Kube(c, client.ApiClient(cfg))
        print(f"cluster up ({c.workdir}); {args.jobs} jobs of each kind, Pods run "
              f"{args.simulate:g}s (simulated)\n-- batch/v1 Jobs (kube-controller-manager)")
        template = job_template(operator_phase(kube, 0, args, tmp, label="template")["pod"])
        rounds: list[tuple[dict[str, Any] | None, dict[str, Any] | None]] = []
        n_rounds = max(args.rounds, 1)
        for r in range(n_rounds):
            last = r == n_rounds - 1
            if r:
                print(f"-- round {r + 1}: batch/v1 Jobs")
            jobs = batch_jobs_phase(kube, args.jobs, args, template) \
                if args.only in (None, "jobs") else None
            if jobs is not None and args.only is None:
                # the TranscodeJobs start from the cluster the Jobs started from: without
                # their 1,000 finished Pods (which the node agent still tracks) and Jobs
                gone = _delete_namespace(kube, "bench-jobs", wait=args.timeout)
                print(f"-- the Jobs' namespace deleted ({gone:.1f}s)")
            print("-- TranscodeJobs (kube-transcoder operator)")
            # every round but the last leaves an empty cluster for the next, and the last
            # one too when growth rows follow (the operator lists every namespace: the
            # round's 1,000 jobs and Pods would count in a growth row's idle RSS)
            tjs = operator_phase(kube, args.jobs, args, tmp, label=f"tj{r or ''}",
                                 clear=not last or bool(args.growth)) \
                if args.only in (None, "operator") else None
            rounds.append((jobs, tjs))
        growth = []
        sizes = [int(s) for s in args.growth.split(",") if s]
        for i, size in enumerate(sizes):
            print(f"-- growth row: {size} TranscodeJobs (operator alone)")
            # every row but the last leaves an empty cluster for the next
            growth.append((size, operator_phase(kube, size, args, tmp, label=f"g{size}",
                                                clear=i < len(sizes) - 1)))
    finally:
        c.stop()
    for r, (jobs, tjs) in enumerate(rounds):
        if len(rounds) > 1:
            print(f"\n== round {r + 1} of {len(rounds)}")
        if jobs is not None and tjs is not None:
            _print_comparison(jobs, tjs)
        elif jobs or tjs:
            print(json.dumps(jobs or tjs, indent=2, default=str))
    compared = [(j, t) for j, t in rounds if j is not None and t is not None]
    if len(compared) > 1:
        _print_rounds(compared)
    if growth:
        _print_growth(growth)
    return 0


def _delete_namespace(kube: Kube, prefix: str, wait: float = 0.0) -> float:
    """Free the cluster of a finished phase or growth row; with `wait`, wait (up to that
    many seconds) until the namespaces and everything in them are gone, and return the
    seconds it took."""
    started = time.monotonic()
    for ns in [n for n in kube.namespaces if n.startswith(prefix + "-")]:
        kube.kubectl("delete", "namespace", ns, f"--wait={'true' if wait else 'false'}",
                     f"--timeout={int(wait)}s", check=False, timeout=wait + 60)
        kube.namespaces.remove(ns)  # a later round's deletion skips it
    return time.monotonic() - started


def _print_rounds(rounds: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """Each round's ratios and their medians: one round's ratio swings with the Job
    side's time from run to run (12.8-29.6 s for all Pods over the README's runs)."""
    rows = [(t["pods"] / j["pods"], t["done"] / j["done"], t["writes"]["total"], t["rss_mb"])
            for j, t in rounds]
    print(f"\nrounds ({len(rounds)}, the sides alternating)   Pods created   finished   "
          "writes/job   peak RSS")
    for i, (pods, done, writes, rss) in enumerate(rows):
        print(f"  round {i + 1:<24d} {pods:10.2f}x {done:9.2f}x {writes:11.2f} {rss:8.0f} MB")
    med = [statistics.median(col) for col in zip(*rows, strict=True)]
    print(f"  {'median':30s} {med[0]:10.2f}x {med[1]:9.2f}x {med[2]:11.2f} {med[3]:8.0f} MB"
          "   (targets <= 1.2x, <= 1.2x, <= 5, <= 120 MB)")


def _print_growth(rows: list[tuple[int, dict[str, Any]]]) -> None:
    print("\ngrowth rows (operator alone; RSS per 1,000 jobs = peak RSS above the idle "
          "operator's, per 1,000 jobs)")
    print("    jobs   all Pods   Pods/job   all finished   time/job   idle RSS   peak RSS   "
          "RSS/1,000 jobs   writes/job   GC")
    for size, r in rows:
        print(f"  {size:6d} {r['pods']:9.1f}s {r['pods'] / size * 1000:8.1f}ms "
              f"{r['done']:12.1f}s {r['done'] / size * 1000:8.1f}ms "
              f"{r['idle_rss_mb']:8.0f}MB {r['rss_mb']:8.0f}MB "
              f"{_per_k(r, size):12.1f}MB {r['writes']['total']:12.2f}   "
              f"{sum(r['gc_s'].values()):5.2f}s")
    (first_size, first), (last_size, last) = rows[0], rows[-1]

    def per_job(key: str) -> float:
        return (last[key] / last_size) / (first[key] / first_size)
    print(f"  {last_size} vs {first_size} jobs: time per job {per_job('done'):.2f}x (all Pods "
          f"created: {per_job('pods'):.2f}x), RSS per 1,000 "
          f"jobs {_per_k(last, last_size) / max(_per_k(first, first_size), 1e-9):.2f}x "
          "(target <= 1.3x)")


def _per_k(row: dict[str, Any], size: int) -> float:
    return (row["rss_mb"] - row["idle_rss_mb"]) / size * 1000


def _print_comparison(jobs: dict[str, Any], tjs: dict[str, Any]) -> None:
    print("\nresult                      batch/v1 Job   TranscodeJob   ratio")
    for key, label in (("create", "objects created"), ("pods", "all Pods created"),
                       ("done", "all jobs finished")):
        print(f"  {label:24s} {jobs[key]:10.1f}s   {tjs[key]:10.1f}s   "
              f"{tjs[key] / jobs[key]:5.2f}x")
    for key, label in (("pod_start", "Pod created to started"),
                       ("end_written", "Pod ended to its status"),
                       ("end_to_done", "Pod ended to job done")):
        print(f"  {label + ' (median)':24s} {jobs['lags'][key]:10.1f}s   "
              f"{tjs['lags'][key]:10.1f}s")
    print("\nAPI writes per job (excluding the job's own creation; no progress in simulate mode)")
    print(f"  Job controller: {jobs['writes']['total']:.2f}")
    for row, value in jobs["writes"]["by_request"].items():
        print(f"    {row:40s} {value:.2f}")
    print(f"  operator:       {tjs['writes']['total']:.2f}  (target <= 5)")
    for row, value in tjs["writes"]["by_request"].items():
        print(f"    {row:40s} {value:.2f}")
    seen, early = tjs["writes"]["scheduling"]
    print(f"  jobs seen in phase Scheduling (a write before Running): {seen}, of them "
          f"{early} among the first tenth created")
    print(f"\noperator peak RSS: {tjs['rss_mb']:.0f} MB (target <= 120 MB); CPU used: "
          f"{tjs['cpu_s']:.1f}s on {os.cpu_count()} CPUs shared with the whole cluster; of it "
          f"in the burst, garbage collection {_gc_text(tjs['gc_s'])}")
    _print_cpu(jobs["cpu"], tjs["cpu"])
    _print_latency(jobs["latency"], tjs["latency"])
    _print_requests(jobs["requests"], tjs["requests"])
    print(f"Pods-created ratio: {tjs['pods'] / jobs['pods']:.2f}x (target <= 1.2x); "
          f"finish-time ratio: {tjs['done'] / jobs['done']:.2f}x (target <= 1.2x)")


def _print_latency(jobs: tuple[dict[str, float], dict[str, float]],
                   tjs: tuple[dict[str, float], dict[str, float]]) -> None:
    """Mean API server latency of the `LATENCY` requests, per window (the node agent's
    Pod status patches wait in the same server as the controllers' writes)."""
    print("\nAPI server mean latency, ms   (until all Pods exist | then until all finished)")
    print("                                     batch/v1 Job          TranscodeJob")
    for key in sorted({*jobs[0], *jobs[1], *tjs[0], *tjs[1]}):
        cells = [f"{side[w][key] * 1000:7.0f}" if key in side[w] else "      -"
                 for side in (jobs, tjs) for w in (0, 1)]
        print(f"  {key:34s} {cells[0]} | {cells[1]}    {cells[2]} | {cells[3]}")


def _print_requests(jobs: dict[str, int], tjs: dict[str, int]) -> None:
    """API requests the API server answered from the first create to the last Pod, by
    verb and resource (every client: the controllers, the node agent, the bench)."""
    print("\nAPI requests until all Pods exist   batch/v1 Job   TranscodeJob")
    for key in sorted({*jobs, *tjs}, key=lambda k: -max(jobs.get(k, 0), tjs.get(k, 0))):
        a, b = jobs.get(key, 0), tjs.get(key, 0)
        if max(a, b) >= 10:
            print(f"  {key:44s} {a:8d}   {b:10d}")


def _gc_text(gc_s: dict[str, float]) -> str:
    by_gen = ", ".join(f"gen{gen} {s:.2f}" for gen, s in sorted(gc_s.items()))
    return f"{sum(gc_s.values()):.2f}s ({by_gen})"


def _print_cpu(jobs: dict[str, dict[str, float]], tjs: dict[str, dict[str, float]]) -> None:
    """CPU seconds per process: from the first create to the last Pod, then to the end."""
    print("\nCPU seconds per process   (until all Pods exist | then until all finished)")
    print("                          batch/v1 Job          TranscodeJob")
    names = sorted({*jobs["pods"], *tjs["pods"]} - {"nodeagent"}) + ["nodeagent"]
    for name in names:
        row = "   ".join(f"{side['pods'].get(name, 0.0):6.1f} | {side['done'].get(name, 0.0):5.1f}"
                         for side in (jobs, tjs))
        print(f"  {name:22s}  {row}")


if __name__ == "__main__":
    sys.exit(main())

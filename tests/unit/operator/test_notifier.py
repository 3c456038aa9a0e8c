"""Sending notifications: the SSRF guard, what an HTTP answer means, and one turn that POSTs.

`adapters.notifier.Notifier` with its two seams injected (the resolver and the
HTTP exchange): a sink resolving to a private or loopback address is refused
before any connection unless `networkAllow` lists it; 2xx is delivered, 429/5xx
and connection errors are retried, 3xx/4xx are not. Then `reconciler.turn` on the
in-memory API: the running job's Started event is POSTed with a signature that
verifies with the Secret's key and recorded Delivered; an unlabelled Secret sends
nothing and says why in status and in an Event.
"""

from __future__ import annotations

import asyncio
import base64
import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.unit.operator import fakes
from tests.unit.operator import helpers as h
from transcode_api import contract, notify
from transcode_operator.adapters import notifier
from transcode_operator.control import reconciler
from transcode_operator.domain import cloudevents
from transcode_operator.domain import settings as settings_module

KEY = b"a-signing-key-of-32-bytes-length"
SINK = "https://hooks.example.com/tj?token=s3cr3t"


@dataclass
class FakeSink:
    """The injected HTTP exchange: records each POST, answers `answer` or raises `error`."""

    answer: notifier.Answer = field(default_factory=lambda: notifier.Answer(204, "No Content"))
    error: BaseException | None = None
    posts: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)

    async def __call__(self, url: str, address: str, headers: Mapping[str, str], body: bytes,
                       timeout: float) -> notifier.Answer:
        self.posts.append((url, address, dict(headers), body))
        if self.error is not None:
            raise self.error
        return self.answer


def _resolver(*addresses: str) -> notifier.Resolve:
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)
    return resolve


def _send(sink: FakeSink, *addresses: str, allow: list[str] | None = None,
          url: str = SINK) -> Any:
    cfg = settings_module.NotifySettings(network_allow=allow or [])
    n = notifier.Notifier(cfg, resolve=_resolver(*addresses), post=sink)
    return asyncio.run(n.send(url, {"ce-id": "x"}, b"{}"))


def test_a_sink_resolving_to_a_private_address_is_refused_before_connecting() -> None:
    sink = FakeSink()
    for address, words in (("10.1.2.3", "private address"), ("127.0.0.1", "loopback address"),
                           ("169.254.169.254", "link-local address")):
        outcome = _send(sink, "93.184.216.34", address)
        assert not outcome.delivered and outcome.permanent
        assert f"hooks.example.com ({address}) is a {words}" in outcome.error
        assert "token" not in outcome.error
    assert sink.posts == []
    allowed = _send(sink, "10.1.2.3", allow=["10.0.0.0/8"])
    assert allowed.delivered and sink.posts[0][1] == "10.1.2.3"  # connects to the checked address


def test_what_each_answer_means() -> None:
    cases = {200: (True, False), 202: (True, False), 302: (False, True), 400: (False, True),
             404: (False, True), 410: (False, True), 429: (False, False), 500: (False, False),
             503: (False, False)}
    for status, (delivered, permanent) in cases.items():
        outcome = _send(FakeSink(notifier.Answer(status, "Why")), "93.184.216.34")
        assert (outcome.delivered, outcome.permanent) == (delivered, permanent), status
        if not delivered:
            assert f"sink hooks.example.com:443 answered HTTP {status} Why" in outcome.error
    limited = _send(FakeSink(notifier.Answer(429, "Slow Down", "30")), "93.184.216.34")
    assert limited.retry_after == 30.0


def test_a_refused_connection_is_retried() -> None:
    outcome = _send(FakeSink(error=ConnectionRefusedError(111, "Connection refused")),
                    "93.184.216.34")
    assert not outcome.delivered and not outcome.permanent
    assert outcome.error == "sink hooks.example.com:443: ConnectionRefusedError"


# --- one turn ---------------------------------------------------------------------------
CFG = settings_module.Settings(storage_policy={"ambient_credentials_namespaces": ["media"]},
                               notifications={"sinks": ["hooks.example.com"]})


def _api(labelled: bool) -> fakes.FakeApi:
    api = fakes.FakeApi()
    body = fakes.job_body(notify={"url": SINK, "secretRef": {"name": "hook-key"}})
    body["status"] = h.running_status()
    api.add_job(body)
    pod = h.pod(phase="Running")
    api.set_pod(pod["metadata"]["name"], pod)
    labels = {contract.CREDENTIALS_LABEL: contract.CREDENTIALS_LABEL_VALUE} if labelled else {}
    api.secrets[("media", "hook-key")] = {
        "metadata": {"name": "hook-key", "labels": labels},
        "data": {notify.DEFAULT_SIGNING_KEY: base64.b64encode(KEY).decode()}}
    return api


def _turn(api: fakes.FakeApi, sink: FakeSink) -> Any:
    n = notifier.Notifier(CFG.notifications, resolve=_resolver("93.184.216.34"), post=sink)
    d = fakes.deps_for(api, CFG, notifier=n)
    fakes.watch(d, api)
    d.last_requeue = asyncio.run(reconciler.turn(d, (h.JOB.namespace, h.JOB.name)))
    return d


def test_a_failed_post_wakes_the_key_at_its_next_attempt() -> None:
    # Nothing else would wake the key (the delivery state is our own status write), so the
    # turn that recorded a Pending event returns the delay of its next POST.
    api, sink = _api(labelled=True), FakeSink(answer=notifier.Answer(503, "Unavailable"))
    d = _turn(api, sink)
    entry = api.jobs[("media", "trailer")]["status"]["notifications"][0]
    assert (entry["state"], entry["attempts"]) == ("Pending", 1)
    assert d.last_requeue is not None
    assert 0 < d.last_requeue <= CFG.notifications.retry_base_seconds


def test_a_turn_posts_started_signed_and_records_it_delivered() -> None:
    api, sink = _api(labelled=True), FakeSink()
    d = _turn(api, sink)
    assert len(sink.posts) == 1
    url, _, headers, body = sink.posts[0]
    assert url == SINK and headers["ce-type"] == "io.kubetranscoder.job.started"
    assert cloudevents.verify(KEY, headers["ce-id"], body, headers[notify.SIGNATURE_HEADER])
    entry = api.jobs[("media", "trailer")]["status"]["notifications"][0]
    assert (entry["type"], entry["state"], entry["attempts"]) == ("Started", "Delivered", 1)
    assert entry["id"] == headers["ce-id"]
    sample = d.metrics.registry.get_sample_value(
        "transcoder_notifications_total", {"type": "Started", "outcome": "delivered"})
    assert sample == 1.0
    before = copy.deepcopy(api.jobs)
    _turn(api, sink)  # a new process reading the stored status sends nothing again
    assert len(sink.posts) == 1 and api.jobs == before


def test_an_unlabelled_secret_sends_nothing_and_says_why() -> None:
    api, sink = _api(labelled=False), FakeSink()
    d = _turn(api, sink)
    assert sink.posts == []
    entry = api.jobs[("media", "trailer")]["status"]["notifications"][0]
    assert entry["state"] == "Failed"
    assert entry["lastError"].startswith('CredentialsNotAllowed: Secret "hook-key" cannot be used')
    assert base64.b64encode(KEY).decode() not in str(api.jobs) and KEY.decode() not in str(api.jobs)
    assert [e.reason for _, e in d.poster.posted] == ["NotificationFailed"]

"""The HTTP API's gate on a loopback port, with the review seam stubbed: what a caller sees.

A stub `apiauth.ReviewApi` plays the API server (which tokens belong to whom, which
user may get which job or URL) and counts the TokenReviews and SubjectAccessReviews
it is sent; a manual clock moves the caches and token buckets. Each test sends real
HTTP requests and checks the status, the headers (WWW-Authenticate, Retry-After)
and the JSON error a client would read, and that no answer or log line holds a token.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import pytest

from transcode_operator.adapters import apiauth, apiguard, clocks, httpapi, metrics
from transcode_operator.domain import buckets, errors

ALICE = "alice-token.abc"  # may get jobs in media, and the GPU status
MALLORY = "mallory-token.def"  # authenticated, granted nothing
JOB = {"metadata": {"namespace": "media", "name": "trailer", "uid": "u-1"},
       "status": {"phase": "Running"}}


class StubReviews:
    """TokenReview/SubjectAccessReview answers from two tables; counts every review."""

    def __init__(self) -> None:
        self.users = {ALICE: {"username": "alice", "uid": "a-1", "groups": ["dev"],
                              "extra": {"scopes": ["x"]}},
                      MALLORY: {"username": "mallory", "groups": []}}
        self.grants = {("alice", "transcodejobs", "media"), ("alice", "gpustatus", ""),
                       ("alice", "url", httpapi.METRICS_PATH)}
        self.token_reviews: list[dict[str, Any]] = []
        self.access_reviews: list[dict[str, Any]] = []
        self.fail = False

    async def create_token_review(self, body: dict[str, Any]) -> dict[str, Any]:
        self.token_reviews.append(body)
        if self.fail:
            raise errors.ApiError(503, "Service Unavailable", f"etcd down ({body['spec']['token']})")
        user = self.users.get(body["spec"]["token"])
        if user is None:
            return {"status": {"authenticated": False, "error": "invalid bearer token"}}
        return {"status": {"authenticated": True, "user": user}}

    async def create_subject_access_review(self, body: dict[str, Any]) -> dict[str, Any]:
        self.access_reviews.append(body)
        if self.fail:
            raise errors.ApiError(0, "ConnectionRefusedError", "no answer")
        spec = body["spec"]
        if "resourceAttributes" in spec:
            attrs = spec["resourceAttributes"]
            ok = (attrs["group"], attrs["verb"]) == ("kubetranscoder.io", "get") and (
                spec["user"], attrs["resource"], attrs.get("namespace", "")) in self.grants
        else:
            attrs = spec["nonResourceAttributes"]
            ok = attrs["verb"] == "get" and (spec["user"], "url", attrs["path"]) in self.grants
        return {"status": {"allowed": ok}}


class Api:
    """The API behind a Guard on the stub, a manual clock, and a counting job loader
    (the guard, its caches and buckets outlive each `get`, as in one operator process)."""

    def __init__(self, *, per_address: tuple[float, int] = (0, 1),
                 per_user: tuple[float, int] = (0, 1), open_routes: tuple[str, ...] = (),
                 auth: bool = True) -> None:
        self.reviews = StubReviews()
        self.clock = clocks.ManualClock()
        self.loads: list[tuple[str, str]] = []
        reviewer = apiauth.Reviewer(self.reviews, allowed_ttl=30, denied_ttl=10,
                                    clock=self.clock) if auth else None
        guard = apiguard.Guard(reviewer=reviewer, open_routes=open_routes, clock=self.clock,
                               per_address=buckets.TokenBuckets(*per_address),
                               per_user=buckets.TokenBuckets(*per_user))

        async def loader(namespace: str, name: str) -> dict[str, Any] | None:
            self.loads.append((namespace, name))
            return httpapi.job_view(JOB) if (namespace, name) == ("media", "trailer") else None

        self.guard, self.loader, self.metrics = guard, loader, metrics.Metrics()

    def get(self, *requests: tuple[str, str | None]) -> list[tuple[int, dict[str, str], Any]]:
        """GET each (path, token or a raw Authorization header starting with '!')."""
        return asyncio.run(self._get(requests))

    async def _get(self, requests: Any) -> list[tuple[int, dict[str, str], Any]]:
        app = httpapi.build_app(job_loader=self.loader, metrics=self.metrics, guard=self.guard)
        server = await httpapi.start(app, "127.0.0.1", 0)  # one app per event loop
        out = []
        try:
            async with aiohttp.ClientSession() as session:
                for path, token in requests:
                    headers = {}
                    if token is not None:
                        headers["Authorization"] = token[1:] if token.startswith("!") \
                            else f"Bearer {token}"
                    async with session.get(f"http://127.0.0.1:{server.port}{path}",
                                           headers=headers) as resp:
                        body = await resp.json() if resp.content_type == "application/json" \
                            else await resp.text()
                        out.append((resp.status, dict(resp.headers), body))
        finally:
            await server.stop()
        return out


JOB_PATH = "/api/v1/jobs/media/trailer"


def test_no_header_or_not_bearer_is_401_with_a_challenge_and_no_review() -> None:
    api = Api()
    results = api.get((JOB_PATH, None), (JOB_PATH, "!Basic YWxpY2U6cHc="), (JOB_PATH, "!Bearer"),
                      (JOB_PATH, "!Bearer a b"), (JOB_PATH, '!Bearer "quoted"'))
    for status, headers, body in results:
        assert status == 401
        assert headers["WWW-Authenticate"].startswith('Bearer realm="kube-transcoder"')
        assert body["status"] == 401 and body["path"] == JOB_PATH
        assert "Authorization: Bearer" in body["error"]
    assert api.reviews.token_reviews == [] and api.loads == []


def test_a_token_the_api_server_rejects_is_401_invalid_token() -> None:
    api = Api()
    [(status, headers, body)] = api.get((JOB_PATH, "forged.token"))
    assert status == 401 and 'error="invalid_token"' in headers["WWW-Authenticate"]
    assert "not accepted" in body["error"] and "forged" not in str(body)
    assert [r["spec"]["token"] for r in api.reviews.token_reviews] == ["forged.token"]
    assert api.loads == []


def test_allowed_user_reads_the_job_and_the_review_names_the_job() -> None:
    api = Api()
    [(status, _, body)] = api.get((JOB_PATH, ALICE))
    assert status == 200 and body["phase"] == "Running" and body["id"] == "media/trailer"
    [sar] = api.reviews.access_reviews
    assert sar["kind"] == "SubjectAccessReview" and sar["apiVersion"] == "authorization.k8s.io/v1"
    assert sar["spec"]["user"] == "alice" and sar["spec"]["uid"] == "a-1"
    assert sar["spec"]["groups"] == ["dev"] and sar["spec"]["extra"] == {"scopes": ["x"]}
    assert sar["spec"]["resourceAttributes"] == {
        "group": "kubetranscoder.io", "resource": "transcodejobs", "verb": "get",
        "namespace": "media", "name": "trailer"}


def test_denied_is_403_naming_verb_resource_and_namespace_and_never_loads() -> None:
    api = Api()
    results = api.get(("/api/v1/jobs/studio/trailer", ALICE), (JOB_PATH, MALLORY),
                      (httpapi.GPU_STATUS_PATH, MALLORY))
    assert [r[0] for r in results] == [403, 403, 403]
    body = results[0][2]
    assert body["verb"] == "get" and body["resource"] == "transcodejobs"
    assert body["namespace"] == "studio"
    assert 'user "alice" may not get transcodejobs.kubetranscoder.io "trailer" in namespace ' \
           '"studio"' in body["error"]
    assert results[2][2]["error"].startswith(
        'user "mallory" may not get gpustatus.kubetranscoder.io (cluster-wide)')
    assert results[2][2]["path"] == "/api/v1/system/gpu/status"
    # not a non-resource URL: the default system:discovery role lets everyone get /api/*
    assert api.reviews.access_reviews[2]["spec"]["resourceAttributes"] == {
        "group": "kubetranscoder.io", "resource": "gpustatus", "verb": "get"}
    assert api.loads == []
    for _, _, answer in results:
        assert ALICE not in str(answer) and MALLORY not in str(answer)


def test_a_polling_client_costs_one_review_of_each_kind_per_ttl() -> None:
    api = Api()
    assert [r[0] for r in api.get(*[(JOB_PATH, ALICE)] * 5)] == [200] * 5
    assert len(api.reviews.token_reviews) == 1 and len(api.reviews.access_reviews) == 1
    assert [r[0] for r in api.get(*[(JOB_PATH, "forged.token")] * 3)] == [401] * 3
    assert len(api.reviews.token_reviews) == 2  # a rejected token is remembered too
    asyncio.run(api.clock.advance(31))
    assert api.get((JOB_PATH, ALICE))[0][0] == 200
    assert len(api.reviews.token_reviews) == 3 and len(api.reviews.access_reviews) == 2


def test_a_denial_is_remembered_for_the_denied_ttl_only() -> None:
    api = Api()
    assert api.get(("/api/v1/jobs/studio/trailer", ALICE))[0][0] == 403
    api.reviews.grants.add(("alice", "transcodejobs", "studio"))
    assert api.get(("/api/v1/jobs/studio/trailer", ALICE))[0][0] == 403  # cached denial
    asyncio.run(api.clock.advance(11))
    assert api.get(("/api/v1/jobs/studio/trailer", ALICE))[0][0] == 404  # allowed, no such job
    assert len(api.reviews.access_reviews) == 2


def test_review_failure_is_503_never_200_and_keeps_the_token_out_of_logs(
        caplog: pytest.LogCaptureFixture) -> None:
    api = Api()
    api.reviews.fail = True
    with caplog.at_level(logging.DEBUG):
        [(status, headers, body)] = api.get((JOB_PATH, ALICE))
    assert status == 503 and "could not check access" in body["error"]
    assert "Retry-After" in headers and api.loads == []
    assert ALICE not in caplog.text and ALICE not in str(body)
    assert "TokenReview failed" in caplog.text
    api.reviews.fail = False
    api.reviews.token_reviews.clear()
    assert api.get((JOB_PATH, ALICE))[0][0] == 200  # a failure is not cached
    api.reviews.fail = True
    asyncio.run(api.clock.advance(31))
    assert api.get((JOB_PATH, ALICE))[0][0] == 503


def test_malformed_names_are_400_after_authentication_and_cost_no_access_review() -> None:
    api = Api()
    results = api.get(("/api/v1/jobs/Media/x", ALICE), ("/api/v1/jobs/media/UPPER_case", ALICE),
                      ("/api/v1/jobs/Media/x", None), ("/api/v1/nope", ALICE), ("/api/v1/nope", None))
    assert [r[0] for r in results] == [400, 400, 401, 404, 401]
    assert api.reviews.access_reviews == [] and api.loads == []


def test_over_the_per_user_limit_is_429_with_retry_after() -> None:
    api = Api(per_user=(1, 2))
    results = api.get(*[(JOB_PATH, ALICE)] * 3)
    assert [r[0] for r in results] == [200, 200, 429]
    status, headers, body = results[2]
    assert headers["Retry-After"] == "1" and "per user" in body["error"]
    assert api.get((JOB_PATH, MALLORY))[0][0] == 403  # another user has their own bucket
    asyncio.run(api.clock.advance(1))
    assert api.get((JOB_PATH, ALICE))[0][0] == 200


def test_an_unauthenticated_flood_is_cut_per_address_before_any_token_review() -> None:
    api = Api(per_address=(0.5, 3))
    results = api.get(*[(JOB_PATH, f"guess{i}") for i in range(6)])
    assert [r[0] for r in results] == [401, 401, 401, 429, 429, 429]
    assert results[3][1]["Retry-After"] == "2" and "per address" in results[3][2]["error"]
    assert len(api.reviews.token_reviews) == 3


def test_open_routes_need_no_token_and_the_others_still_do() -> None:
    api = Api(open_routes=("healthz",))
    results = api.get(("/healthz", None), ("/metrics", None), ("/metrics", MALLORY),
                      ("/metrics", ALICE))
    assert [r[0] for r in results] == [200, 401, 403, 200]
    assert api.reviews.access_reviews[-1]["spec"]["nonResourceAttributes"] == {
        "path": "/metrics", "verb": "get"}


def test_auth_off_serves_everyone_but_still_rate_limits() -> None:
    api = Api(auth=False, per_address=(1, 1))
    results = api.get((JOB_PATH, None), (JOB_PATH, None))
    assert [r[0] for r in results] == [200, 429]

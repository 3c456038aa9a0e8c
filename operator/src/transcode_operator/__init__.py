"""The TranscodeJob operator: kopf handlers, reconcile logic and their helpers.

`__main__` starts kopf with the handlers; the Redis helpers (progress relay,
caches, rate limits, output locks), the read-only HTTP API and the Prometheus
metrics live in their own modules beside them.

Map of the job path: `handlers` (thin kopf entry points and kopf's settings)
-> `jobloop` (one loop per job: observe, plan, act) -> `reconcile` (the pure
state machine) built on `decisions` (GPU or CPU, how a Pod ended, backoff,
timeouts), `podstate` (what a Pod says) and `conditions` (status and its
conditions map); `builders` makes the runner Pod, `kubeclient` makes the API
calls, `events` names the Events, `context` holds the shared collaborators,
`settings` the configuration, `errors` the domain errors, `rbac` the
generated roles, and `kubectl_plugin` the `kubectl transcode` command.
"""

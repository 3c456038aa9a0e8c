"""The TranscodeJob operator, in four layers (checked by import-linter contracts).

`app` (kopf handlers that only enqueue, the process wiring, the RBAC generator
and the kubectl plugin) > `control` (one deduplicating work queue served by a
fixed pool of workers; each turn of a job key observes, plans and acts) >
`adapters` (the API client, Redis relay/caches/limits/locks, HTTP API,
metrics, the Event poster) > `domain` (pure: settings, Pod builders, Pod
views, decisions, the `reconcile.plan` state machine and its actions).
`__main__` runs kopf with `app.handlers`.
"""

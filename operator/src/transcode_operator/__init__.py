"""The TranscodeJob operator: kopf handlers, reconcile logic and their helpers.

`__main__` starts kopf with the handlers; the Redis helpers (progress relay,
caches, rate limits, output locks), the read-only HTTP API and the Prometheus
metrics live in their own modules beside them.
"""

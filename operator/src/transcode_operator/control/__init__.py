"""The controller core: one work queue, a fixed pool of workers, observe and act.

`workqueue` (dedup, delays, backoff), `controller` (the workers), `informer`
(the watched objects, with our own writes), `observe` (one observation per
turn) and `act` (the plan carried out in a fixed order). Imports adapters and
domain, never kopf.
"""

"""Pure rules of the operator: settings, Pod builders, Pod views, decisions, the plan.

No I/O and no kopf, kubernetes, redis, boto3, aiohttp or pynvml (an
import-linter contract checks it); unit-tested without a cluster.
"""

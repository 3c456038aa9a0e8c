"""Root of the test tiers: loads the session fixtures that start real servers.

`tests.cluster.fixtures` starts the local Kubernetes control plane and node agent;
`tests.services.fixtures` starts the S3-compatible server and Redis. Each tier
(unit/, functional/, e2e/) has its own conftest.py; unit tests use none of these.
"""

pytest_plugins = ["tests.cluster.fixtures", "tests.services.fixtures"]

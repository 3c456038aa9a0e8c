"""Root of the test tiers: loads the session fixtures that start real servers.

`dev.cluster.fixtures` starts the local Kubernetes control plane and node agent;
`dev.services.fixtures` starts the S3-compatible server and Redis. Each tier
(unit/, functional/, e2e/) has its own conftest.py; unit tests use none of these.
"""

pytest_plugins = ["dev.cluster.fixtures", "dev.services.fixtures"]

"""Everything that talks to the outside world: the API server, Redis, HTTP, metrics.

Injected into the control layer by `app.context`; imports only the domain.
"""

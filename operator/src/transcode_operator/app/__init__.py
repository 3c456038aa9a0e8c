"""The kopf entry points and the wiring of one operator process (top layer).

`handlers` are the kopf handlers (they only enqueue); `context` builds and stops
the shared collaborators; `rbac` and `kubectl_plugin` are command-line tools.
"""

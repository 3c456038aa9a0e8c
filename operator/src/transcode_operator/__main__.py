"""`transcode-operator`: run the TranscodeJob operator (kopf) until SIGTERM.

The console script and `python -m transcode_operator` call `main()`. It loads
the settings (`TRANSCODER_CONFIG` YAML, then `TRANSCODER_*` variables),
configures logging, keeps the garbage collector off what start-up built (`quiet_gc`) and
runs kopf with `app.handlers.REGISTRY`: standalone (no kopf peering objects; replicas
elect a leader on a Lease, see `adapters.leader`), watching all namespaces, of which the
handlers serve the named ones (`-n`, else `kopf.namespaces`; globs allowed, `domain.scope`)
or all, with kopf's liveness endpoint. The Kubernetes connection comes from the in-cluster
service account, else $KUBECONFIG (`adapters.kubeauth`). Before kopf is imported,
`keep_kubernetes_out()` marks the official `kubernetes` package as absent: kopf imports
its model classes whenever it is installed (to recognise its objects, which this
operator never passes), and they alone would be ~40 MB of the process's memory.
"""

from __future__ import annotations

import argparse
import logging
import sys


def keep_kubernetes_out() -> None:
    """Make `import kubernetes` fail in this process (kopf then skips it), unless kopf
    or the package is imported already (then it is too late and nothing changes)."""
    if "kopf" not in sys.modules and "kubernetes" not in sys.modules:
        sys.modules["kubernetes"] = None  # type: ignore[assignment]  # the import system's "absent"


def quiet_gc() -> None:
    """Keep the cyclic garbage collector off what lives as long as the process.

    Everything imported by now (kopf, aiohttp, pydantic's schemas: most of the idle
    process) is moved to the collector's permanent generation, so a full collection no
    longer walks it; and a collection starts after 10,000 new container objects, not 700
    (a Pod watch event alone is hundreds of dicts). Measured in bench/operator_scale.py:
    the collector had been 17 % of the operator's CPU in a 1,000-job run, and about 7 % after."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def main(argv: list[str] | None = None) -> int:
    keep_kubernetes_out()
    import kopf

    from transcode_operator.app import handlers
    from transcode_operator.domain import settings as settings_module

    parser = argparse.ArgumentParser(prog="transcode-operator", description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--namespace", action="append", default=[],
                        help="serve only this namespace (repeatable; kopf's globs allowed); default: all")
    parser.add_argument("--liveness", default=None,
                        help="kopf liveness endpoint URL (default: settings kopf.livenessEndpoint)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    parser.add_argument("--debug", action="store_true", help="log kopf's internals too")
    args = parser.parse_args(argv)
    cfg = settings_module.load()
    kopf.configure(verbose=args.verbose, debug=args.debug)
    if not args.debug:  # one line per watch event is noise; failures are still logged
        for name in ("kopf.objects", "kopf.activities.probe", "aiohttp.access"):
            logging.getLogger(name).setLevel(logging.WARNING)
    namespaces = args.namespace or cfg.kopf.namespaces
    quiet_gc()
    kopf.run(
        registry=handlers.REGISTRY,
        standalone=True,
        clusterwide=True,  # the handlers keep to the served namespaces (domain.scope)
        liveness_endpoint=args.liveness or cfg.kopf.liveness_endpoint or None,
        memo=kopf.Memo(cfg=cfg, namespaces=namespaces),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Bench-only: CPU seconds the cyclic garbage collector takes in a process started with
this folder first on PYTHONPATH and KT_GC_STATS naming a file.

Python imports `sitecustomize` at start-up. When KT_GC_STATS is set, a `gc.callbacks` hook
adds up the process CPU time of every collection, by generation. A daemon thread writes
`{"seconds": {gen: s}, "collections": {gen: n}}` to that file every second, and at exit.
`bench/operator_scale.py` starts the operator with it and prints what the file holds.
"""

import os

if os.environ.get("KT_GC_STATS"):
    import atexit
    import gc
    import json
    import threading
    import time

    _path = os.environ["KT_GC_STATS"]
    _seconds = {0: 0.0, 1: 0.0, 2: 0.0}
    _counts = {0: 0, 1: 0, 2: 0}
    _began = [0.0]

    def _hook(phase: str, info: dict) -> None:
        if phase == "start":
            _began[0] = time.process_time()
        else:
            _seconds[info["generation"]] += time.process_time() - _began[0]
            _counts[info["generation"]] += 1

    def _write() -> None:
        with open(_path + ".tmp", "w") as out:
            json.dump({"seconds": _seconds, "collections": _counts}, out)
        os.replace(_path + ".tmp", _path)

    def _every_second() -> None:
        while True:
            time.sleep(1)
            _write()

    gc.callbacks.append(_hook)
    threading.Thread(target=_every_second, daemon=True, name="gcstat").start()
    atexit.register(_write)

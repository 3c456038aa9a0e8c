"""The web players the streaming tests load in Chromium: hls.js and dash.js, pinned, from npm.

`player_scripts()` returns the paths of `hls.min.js` and `dash.all.min.js`,
fetched once with `npm pack` (the npm registry's ordinary client) into
the cache folder's npm/<package>-<version>/ (`dev.cachedir`: `$KT_CACHE_DIR` or
~/.cache/kube-transcoder) and unpacked there, never
into the repository; later calls use the cache. `chromium_binary()` finds
Debian's `chromium` (installed by .ci/install-deps.sh). Run `python -m
dev.players` to fill the cache ahead of a test run.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from dev import cachedir

CACHE = cachedir.folder() / "npm"
PACKAGES = {
    "hls.js": ("1.5.20", "dist/hls.min.js"),
    "dashjs": ("4.7.4", "dist/dash.all.min.js"),
}
"""npm package -> (pinned version, the browser bundle inside it)."""


def _fetch(name: str, version: str) -> Path:
    """Unpack `name@version` into the cache (once); returns its `package/` folder."""
    target = CACHE / f"{name}-{version}"
    if (target / "package" / "package.json").is_file():
        return target / "package"
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to fetch the web players (Debian package npm)")
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as work:
        done = subprocess.run([npm, "pack", f"{name}@{version}", "--pack-destination", work,
                               "--silent"], capture_output=True, text=True, timeout=300,
                              check=False, cwd=work)
        tarballs = list(Path(work).glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            raise RuntimeError(f"npm pack {name}@{version} failed: {done.stderr.strip()[-500:]}")
        unpacked = Path(work) / "unpacked"
        with tarfile.open(tarballs[0]) as archive:
            archive.extractall(unpacked, filter="data")
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(unpacked), target)
    return target / "package"


def player_scripts() -> dict[str, Path]:
    """{"hls": path of hls.min.js, "dash": path of dash.all.min.js}, from the cache."""
    found = {}
    for key, name in (("hls", "hls.js"), ("dash", "dashjs")):
        version, bundle = PACKAGES[name]
        path = _fetch(name, version) / bundle
        if not path.is_file():
            raise RuntimeError(f"{name}@{version} has no {bundle}")
        found[key] = path
    return found


def chromium_binary() -> str:
    """Debian's chromium; raises RuntimeError naming the package when it is missing."""
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    raise RuntimeError("chromium is not installed (Debian package chromium; .ci/install-deps.sh)")


if __name__ == "__main__":
    for key, path in player_scripts().items():
        print(f"{key}: {path}")

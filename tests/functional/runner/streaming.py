"""What the streaming tests put in front of a package: an HTTP origin and a headless Chromium.

`Origin` is the test's own HTTP server on 127.0.0.1: `/s3/<key>` relays GETs
to the real S3 server (the object's bytes, Content-Type and Cache-Control as
stored), `/lib/<name>` serves the pinned hls.js / dash.js bundles
(`dev.players`) and `/player.html` the page of `PLAYER_PAGE`; it logs every
request with its status. `Browser` runs Debian's chromium headless with no
proxy and a host resolver that fails every name lookup (only the loopback
origin is reachable), and drives one page over the DevTools protocol
(aiohttp's WebSocket client): evaluate JavaScript, capture screenshots.
"""

from __future__ import annotations

import asyncio
import base64
import http.server
import json
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import aiohttp

PLAYER_PAGE = (Path(__file__).parent / "player.html").read_text()


class Origin:
    """HTTP on 127.0.0.1 in front of one S3 bucket, plus the player page and libraries."""

    def __init__(self, s3: Any, bucket: str, libs: dict[str, Path]) -> None:
        self.log: list[tuple[str, int]] = []
        origin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = urllib.parse.urlsplit(self.path).path
                status, body, headers = origin.answer(path)
                origin.log.append((path, status))
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self.s3, self.bucket, self.libs = s3, bucket, libs
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, path: str) -> tuple[int, bytes, dict[str, str]]:
        if path.startswith("/s3/"):
            key = urllib.parse.unquote(path.removeprefix("/s3/"))
            try:
                got = self.s3.get_object(Bucket=self.bucket, Key=key)
            except Exception:  # noqa: BLE001 - a missing object is a 404 to the player
                return 404, b"not found", {"Content-Type": "text/plain"}
            headers = {"Content-Type": got.get("ContentType", "application/octet-stream")}
            if got.get("CacheControl"):
                headers["Cache-Control"] = got["CacheControl"]
            return 200, got["Body"].read(), headers
        if path.startswith("/lib/") and path.removeprefix("/lib/") in self.libs:
            script = self.libs[path.removeprefix("/lib/")].read_bytes()
            return 200, script, {"Content-Type": "text/javascript"}
        if path == "/player.html":
            return 200, PLAYER_PAGE.encode(), {"Content-Type": "text/html; charset=utf-8"}
        return 404, b"not found", {"Content-Type": "text/plain"}

    def url(self, key: str) -> str:
        return f"{self.base}/s3/{key}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--mute-audio", "--no-first-run",
    "--no-default-browser-check", "--autoplay-policy=no-user-gesture-required",
    # Nothing but loopback: no proxy, every host name resolves to nothing, no background calls.
    "--no-proxy-server", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-domain-reliability", "--disable-breakpad", "--no-pings",
    "--window-size=960,600", "--remote-debugging-port=0",
]


class Browser:
    """One headless Chromium with one page, driven over the DevTools protocol."""

    def __init__(self, binary: str, profile: Path) -> None:
        profile.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                         "about:blank"], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        self.port = int(port_file.read_text().split()[0])
        self.loop = asyncio.new_event_loop()
        self.ids = 0
        self.loop.run_until_complete(self._connect())

    async def _connect(self) -> None:
        self.session = aiohttp.ClientSession()
        async with self.session.get(f"http://127.0.0.1:{self.port}/json/list") as answer:
            pages = [t for t in await answer.json() if t["type"] == "page"]
        self.ws = await self.session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)

    async def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.ids += 1
        await self.ws.send_json({"id": self.ids, "method": method, "params": params})
        while True:
            message = json.loads((await self.ws.receive()).data)
            if message.get("id") == self.ids:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message["result"])

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        return self.loop.run_until_complete(asyncio.wait_for(self._call(method, params), 30))

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        answer = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        return answer.get("result", {}).get("value")

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot")["data"]))
        return path

    def close(self) -> None:
        if hasattr(self, "session"):
            self.loop.run_until_complete(self.session.close())
            self.loop.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

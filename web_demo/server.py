"""A local static server for the page: web_demo/ itself, manifest.json built in memory and the
model files it names under /models/ (read where the registry keeps them, never copied)."""

from __future__ import annotations

import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .manifest import MODEL, MODELS_URL, build

WEB_DIR = Path(__file__).resolve().parent
NODE_MODULES = WEB_DIR / "node_modules"


class _Handler(SimpleHTTPRequestHandler):
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".wasm": "application/wasm",
        ".json": "application/json",
    }

    def __init__(self, *args, manifest: bytes, models: dict[str, Path], **kwargs):
        self._manifest, self._models = manifest, models
        super().__init__(*args, directory=str(WEB_DIR), **kwargs)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/manifest.json":
            return self._send(self._manifest, "application/json")
        if path.startswith("/" + MODELS_URL):
            model = self._models.get(path[len(MODELS_URL) + 1 :])
            if model is None:
                return self.send_error(404, "not a model this page uses")
            return self._send(model.read_bytes(), "application/octet-stream")
        return super().do_GET()

    def _send(self, body: bytes, kind: str):
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")  # a new model or page is seen at once
        super().end_headers()

    def log_message(self, format, *args):
        pass


def make_server(
    host: str = "127.0.0.1", port: int = 8000, model: str = MODEL
) -> ThreadingHTTPServer:
    """The server (not yet serving); port 0 picks a free one (server.server_address)."""
    manifest, models = build(model)
    handler = partial(_Handler, manifest=json.dumps(manifest, indent=1).encode(), models=models)
    return ThreadingHTTPServer((host, port), handler)


def serve_in_thread(host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    server = make_server(host, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server

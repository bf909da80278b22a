"""python -m web_demo [--port N] [--host H] [--model NAME]: serve the page on this machine."""

from __future__ import annotations

import sys

from edge_runtime.console import ArgumentParser, usage_error
from edge_runtime.types import ModelError

from .manifest import MODEL
from .server import NODE_MODULES, make_server


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(
        prog="python -m web_demo",
        description="Serve the edge-detect web page (web_demo/index.html): photos are judged in "
        "the browser, nothing is uploaded. Needs `npm ci` in web_demo/ once (LiteRT.js).",
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="TCP port (default 8000; 0: any free)"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--model",
        default=MODEL,
        help="registry name (edge_runtime/registry.py) of the model whose client-input asset "
        f"the page runs (default {MODEL}, the shipped detector)",
    )
    args = parser.parse_args(argv)
    if not (NODE_MODULES / "@litertjs" / "core").is_dir():
        usage_error(parser.prog, f"{NODE_MODULES} lacks @litertjs/core: run `npm ci` in web_demo/")
    try:
        server = make_server(args.host, args.port, args.model)
    except ModelError as e:
        usage_error(parser.prog, str(e))
    except OSError as e:
        usage_error(parser.prog, f"cannot listen on {args.host}:{args.port} ({e.strerror or e})")
    host, port = server.server_address[:2]
    print(f"edge-detect web page: http://{host}:{port}/  (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

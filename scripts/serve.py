#!/usr/bin/env python3
"""Static server for the hearth page (stdlib only).

Serves www/ at /, the model cache models/cache/ at /models/ and models/manifest.json at
/models/manifest.json, with the headers the page needs: cross-origin isolation (COOP/COEP/CORP),
a strict Content-Security-Policy (the benchmark page alone may also start workers from blob: URLs, for wllama), nosniff
and no-cache. Binds 127.0.0.1 only.

    python3 scripts/serve.py [--port 8080] [--quiet] [--mount /app=DIR …]     (or PORT=8080)

--mount serves another folder under a URL prefix with the same headers (the e2e tests serve sample apps that
install the npm package this way).
"""

import argparse
import os
import posixpath
import shutil
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
WWW = ROOT / "www"
MODELS = ROOT / "models" / "cache"
MANIFEST = ROOT / "models" / "manifest.json"
MOUNTS: list[tuple[str, Path]] = []  # (URL prefix, folder) from --mount, longest prefix first

CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; worker-src 'self'; "
    "style-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'self'"
)
# The benchmark page only: wllama (the peer it is compared with) starts its workers from blob: URLs.
BENCH_CSP = CSP.replace("worker-src 'self'", "worker-src 'self' blob:")
BENCH_PAGES = {"/bench", "/bench/index.html"}
HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
MIME = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".gguf": "application/octet-stream",
    ".safetensors": "application/octet-stream",
    ".md": "text/markdown; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".ts": "text/plain; charset=utf-8",
    ".hix": "application/octet-stream",
}


def resolve(url_path: str) -> Path | None:
    """Maps a URL path to a file under www/ or the model cache; None if outside them or missing."""
    path = posixpath.normpath(unquote(url_path))
    if path == "/models/manifest.json":
        return MANIFEST if MANIFEST.is_file() else None
    mount = next(((p, d) for p, d in MOUNTS if path == p or path.startswith(p + "/")), None)
    if mount:
        base, rel = mount[1], path[len(mount[0]):]
    elif path == "/models" or path.startswith("/models/"):
        base, rel = MODELS, path[len("/models"):]
    else:
        base, rel = WWW, path
    # normpath of an absolute path cannot climb above "/", so the target stays under base (symlinks in the
    # model cache, e.g. into a download cache, are followed on purpose).
    target = base / rel.lstrip("/")
    if target.is_dir():
        target = target / "index.html"
    return target if target.is_file() else None


class Handler(BaseHTTPRequestHandler):
    server_version = "hearth-serve"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    quiet = False

    def end_headers(self):
        bench = posixpath.normpath(unquote(urlsplit(self.path).path)) in BENCH_PAGES
        for name, value in HEADERS.items():
            if bench and name == "Content-Security-Policy":
                value = BENCH_CSP
            self.send_header(name, value)
        super().end_headers()

    def do_HEAD(self):
        self.serve(body=False)

    def do_GET(self):
        self.serve(body=True)

    def serve(self, body: bool):
        target = resolve(urlsplit(self.path).path)
        if target is None:
            return self.error(HTTPStatus.NOT_FOUND, "not found")
        try:
            f = open(target, "rb")
        except OSError:
            return self.error(HTTPStatus.NOT_FOUND, "not found")
        with f:
            size = os.fstat(f.fileno()).st_size
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", MIME.get(target.suffix.lower(), "application/octet-stream"))
            self.send_header("Content-Length", str(size))
            self.end_headers()
            if body:
                try:
                    shutil.copyfileobj(f, self.wfile, 1 << 20)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

    def error(self, status: HTTPStatus, message: str):
        data = f"{status.value} {message}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_POST(self):
        self.error(HTTPStatus.METHOD_NOT_ALLOWED, "method not allowed")

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_POST

    def log_message(self, format, *args):
        if not self.quiet:
            sys.stdout.write((format % args) + "\n")
            sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser(description="Serve the hearth page on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    parser.add_argument("--mount", action="append", default=[], metavar="/PREFIX=DIR",
                        help="also serve DIR under /PREFIX (repeatable)")
    args = parser.parse_args()
    for m in args.mount:
        prefix, _, folder = m.partition("=")
        prefix = "/" + prefix.strip("/")
        if prefix == "/" or not folder:
            parser.error(f"--mount {m}: expected /PREFIX=DIR")
        MOUNTS.append((prefix, Path(folder).resolve()))
    MOUNTS.sort(key=lambda m: -len(m[0]))
    Handler.quiet = args.quiet
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    httpd = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"serving http://127.0.0.1:{httpd.server_address[1]}", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


if __name__ == "__main__":
    main()

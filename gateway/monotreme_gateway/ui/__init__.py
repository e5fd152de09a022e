"""The web UI: a single-page app of plain ES modules and CSS, served by the HTTP door.

`/` is index.html, revalidated on every visit, so a new release shows at
once. The other files live under `/ui/<version>/`, where the version is a
hash of all of them: browsers keep them forever, since any change gives every
file a new address. One prefix for all keeps the modules' relative imports
working with no build step. The app uses only the public HTTP API.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from monotreme_gateway.transcoder.errors import GatewayError

_STATIC = Path(__file__).parent / "static"
_CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
# Only this origin's files; no inline script or style, no framing, no plugins.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
_COMMON_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@dataclass(frozen=True)
class _Asset:
    body: bytes
    content_type: str


class _Files:
    """The static files, read once: index.html and the versioned assets."""

    def __init__(self, root: Path) -> None:
        self.assets = {
            path.relative_to(root).as_posix(): _Asset(path.read_bytes(), _CONTENT_TYPES[path.suffix])
            for path in sorted(root.rglob("*"))
            if path.suffix in _CONTENT_TYPES
        }
        digest = hashlib.sha256()
        for name, asset in self.assets.items():
            digest.update(f"{name}\0{len(asset.body)}\0".encode() + asset.body)
        self.version = digest.hexdigest()[:16]
        self.index = (root / "index.html").read_bytes().replace(b"{{ui}}", f"/ui/{self.version}".encode())

    async def serve_index(self, request: web.Request) -> web.Response:
        etag = f'"{self.version}"'
        headers = {**_COMMON_HEADERS, "Cache-Control": "no-cache", "ETag": etag}
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=self.index, content_type="text/html", charset="utf-8", headers=headers)

    async def serve_asset(self, request: web.Request) -> web.Response:
        asset = self.assets.get(request.match_info["path"])
        if request.match_info["version"] != self.version or asset is None:
            # An old version's address must not be cached with today's content.
            raise GatewayError(404, "NOT_FOUND", f"no file {request.path}")
        headers = {**_COMMON_HEADERS, "Cache-Control": "public, max-age=31536000, immutable"}
        return web.Response(
            body=asset.body, content_type=asset.content_type, charset="utf-8", headers=headers
        )


def add_routes(app: web.Application) -> None:
    """`GET /` and `GET /ui/<version>/<file>`; the app routes by the URL's
    fragment (`/#/events`), so no other path needs to answer index.html."""
    files = _Files(_STATIC)
    app.router.add_get("/", files.serve_index)
    app.router.add_get("/ui/{version}/{path:.+}", files.serve_asset)

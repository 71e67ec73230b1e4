"""The web page the gateway serves at ``/``: the live tree, agent types and a chat panel.

    gateway = Gateway(runtime)
    url = await gateway.start("127.0.0.1", 8000)
    # open http://127.0.0.1:8000/ in a browser

Plain files shipped in the package (``static/``), read once when the gateway is made;
the page itself calls the gateway's own API (``/v1/tree``, ``/v1/agents``, the SSE
``/stream`` endpoint) with the token the user types in, so the page needs none.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

__all__ = ["add_web_page", "PAGE_PATHS"]

STATIC = Path(__file__).resolve().parent / "static"

#: URL path -> (file in static/, content type). Public: the data comes from the API.
_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/ui/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/ui/style.css": ("style.css", "text/css; charset=utf-8"),
}
PAGE_PATHS = frozenset(_FILES)


def add_web_page(app: web.Application) -> None:
    """Serve the page's files on ``app`` (``GET /``, ``/ui/app.js``, ``/ui/style.css``)."""
    for path, (name, content_type) in _FILES.items():
        body = (STATIC / name).read_bytes()

        async def serve(request: web.Request, body: bytes = body, content_type: str = content_type,
                        ) -> web.Response:
            return web.Response(body=body, headers={
                "Content-Type": content_type, "Cache-Control": "no-cache",
                "X-Content-Type-Options": "nosniff",
            })

        app.router.add_get(path, serve)

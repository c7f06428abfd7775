"""One uvicorn server, two listeners: the page's port and the operator port.

The page (:func:`invoicing.web.app.create_app`) and the operator application
(:func:`invoicing.web.app.operator_app`: ``/healthz``, ``/readyz``, ``/metrics``) share one
process, one event loop and one signal handling; each connection goes to the application of
the socket it came in on (the ASGI scope's ``server``: the local address uvicorn read from the
socket, never from a header). Two uvicorn servers in one loop would each install their own
SIGTERM handler, and only the last one's server would stop.
"""

from __future__ import annotations

import socket

import uvicorn
from invoicing.web.settings import WebSettings
from starlette.types import ASGIApp, Receive, Scope, Send


class ByListener:
    """The operator application for connections to ``operator_port``, else the page."""

    def __init__(self, page: ASGIApp, operator: ASGIApp, operator_port: int) -> None:
        self.page = page
        self.operator = operator
        self.operator_port = operator_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        on_operator_port = server is not None and server[1] == self.operator_port
        app = self.operator if on_operator_port else self.page
        await app(scope, receive, send)


def listeners(
    web: WebSettings,
    *,
    host: str | None = None,
    port: int | None = None,
    operator_host: str | None = None,
    operator_port: int | None = None,
) -> tuple[tuple[str, int], tuple[str, int]]:
    """(host, port) of the page and of the operator listener: the options given, else the
    settings. The operator listener's host is its own setting (127.0.0.1), never the page's:
    ``--host 0.0.0.0`` on a bare machine must not open readiness and metrics to the network."""
    page = (host or web.host, port or web.port)
    operator = (operator_host or web.operator_host, operator_port or web.operator_port)
    if operator[1] == page[1]:
        raise ValueError(
            f"the operator listener needs a port of its own, not the page's {page[1]}: set "
            "INVOICING_WEB_OPERATOR_PORT (or --operator-port) to another port"
        )
    return page, operator


def bind(host: str, port: int) -> socket.socket:
    """A listening socket as uvicorn binds one (IPv6 addresses too); exits with uvicorn's
    message when the address is taken."""
    config = uvicorn.Config(app=None, host=host, port=port, log_config=None)  # type: ignore[arg-type]
    return config.bind_socket()


def build_server(
    page: ASGIApp,
    operator: ASGIApp,
    *,
    page_socket: socket.socket,
    operator_socket: socket.socket,
    forwarded_allow_ips: str,
) -> uvicorn.Server:
    """The server; run it with ``server.run(sockets=[page_socket, operator_socket])``."""
    page_port = int(page_socket.getsockname()[1])
    operator_port = int(operator_socket.getsockname()[1])
    if page_port == operator_port:
        raise ValueError(
            f"the operator listener needs a port of its own, not the page's {page_port}: set "
            "INVOICING_WEB_OPERATOR_PORT (or --operator-port) to another port"
        )
    config = uvicorn.Config(
        ByListener(page, operator, operator_port),
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        server_header=False,
        lifespan="off",
        log_config=None,  # stdlib records go through invoicing.logs
        access_log=False,  # requests are counted in /metrics instead
    )
    return uvicorn.Server(config)

"""``invoicing web``: serve the hosted invoice page with uvicorn, and its operator listener."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def web(
        host: Annotated[str | None, typer.Option(help="default: INVOICING_WEB_HOST")] = None,
        port: Annotated[int | None, typer.Option(help="default: INVOICING_WEB_PORT")] = None,
        operator_host: Annotated[
            str | None,
            typer.Option(help="default: INVOICING_WEB_OPERATOR_HOST (127.0.0.1)"),
        ] = None,
        operator_port: Annotated[
            int | None, typer.Option(help="default: INVOICING_WEB_OPERATOR_PORT (8081)")
        ] = None,
    ) -> None:
        """Serve share links (publish_invoice) as the hosted invoice page (and /healthz) on
        --port, and /healthz, /readyz and /metrics on --operator-port, which is not to be
        published. Reads through a read-only database session."""
        from invoicing import logs
        from invoicing.config import get_settings
        from invoicing.web.app import create_app, operator_app
        from invoicing.web.serving import bind, build_server, listeners
        from invoicing.web.settings import WebSettings

        settings = get_settings()
        logs.configure(settings.log_format, settings.log_level)
        web_settings = WebSettings()
        try:
            (page_host, page_port), (op_host, op_port) = listeners(
                web_settings,
                host=host,
                port=port,
                operator_host=operator_host,
                operator_port=operator_port,
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--operator-port") from exc
        page = create_app(settings, web_settings)
        sockets = [bind(page_host, page_port), bind(op_host, op_port)]
        server = build_server(
            page,
            operator_app(page),
            page_socket=sockets[0],
            operator_socket=sockets[1],
            forwarded_allow_ips=web_settings.forwarded_allow_ips,
        )
        server.run(sockets=sockets)

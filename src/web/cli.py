"""``invoicing web``: serve the hosted invoice page with uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def web(
        host: Annotated[str | None, typer.Option(help="default: INVOICING_WEB_HOST")] = None,
        port: Annotated[int | None, typer.Option(help="default: INVOICING_WEB_PORT")] = None,
    ) -> None:
        """Serve share links (publish_invoice) as the hosted invoice page, with /metrics,
        /healthz and /readyz. Reads through a read-only database session."""
        import uvicorn
        from invoicing import logs
        from invoicing.config import get_settings
        from invoicing.web.app import create_app
        from invoicing.web.settings import WebSettings

        settings = get_settings()
        logs.configure(settings.log_format, settings.log_level)
        web_settings = WebSettings()
        application = create_app(settings, web_settings)
        uvicorn.run(
            application,
            host=host or web_settings.host,
            port=port or web_settings.port,
            proxy_headers=True,
            forwarded_allow_ips=web_settings.forwarded_allow_ips,
            server_header=False,
            log_config=None,  # stdlib records go through invoicing.logs
            access_log=False,  # requests are counted in /metrics instead
        )

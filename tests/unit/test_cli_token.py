"""`invoicing token` mints a token the workers' authenticator accepts, for exactly its grants."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from invoicing.pipeline.authenticate import TokenOrUserAuthenticator

SECRET = "cli-token-test-secret-0123456789abcdef"


def test_token_command() -> None:
    org = uuid.uuid4()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "invoicing.cli",
            "token",
            "--org",
            str(org),
            "--scopes",
            "invoices:read",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "INVOICING_JWT_SECRET": SECRET},
    )
    principal = TokenOrUserAuthenticator(SECRET).authenticate(
        {"token": result.stdout.strip()}, None
    )
    assert principal.allows(org, "invoices:read")
    assert not principal.allows(org, "invoices:write")
    assert not principal.allows(uuid.uuid4(), "invoices:read")

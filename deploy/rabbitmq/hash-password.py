#!/usr/bin/env python3
"""Print the RabbitMQ password hash of a password, for the ``password_hash`` of users.json.

    python3 deploy/rabbitmq/hash-password.py              (asks for the password)
    printf %s "$PASSWORD" | python3 deploy/rabbitmq/hash-password.py -

The algorithm is RabbitMQ's ``rabbit_password_hashing_sha256`` (its default): base64 of a
random 4-byte salt followed by SHA-256(salt + UTF-8 password). Standard library only, so it runs
where the secrets are made, without RabbitMQ (``rabbitmqctl hash_password`` exists only on newer
versions). The password is never taken from the command line (it would show in ``ps``).
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import os
import sys


def password_hash(password: str, salt: bytes | None = None) -> str:
    salt = os.urandom(4) if salt is None else salt
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def main(argv: list[str]) -> int:
    if argv[1:] == ["-"]:
        password = sys.stdin.read().rstrip("\n")
    elif not argv[1:]:
        password = getpass.getpass("password: ")
    else:
        print("usage: hash-password.py [-]  (reads the password, never from the arguments)",
              file=sys.stderr)
        return 2
    if not password:
        print("hash-password.py: empty password refused", file=sys.stderr)
        return 1
    print(password_hash(password))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

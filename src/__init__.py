"""Message-driven invoicing service.

The path of a command: ``schemas`` (what may come in and go out) -> ``workers`` (decode, call,
ack) -> ``handlers`` (one function per command inside a unit of work) -> ``domain`` rules and
``models``.
"""

__version__ = "0.1.0"

"""Loopback simulators for tests and ``nephos demo``: certificates, HTTP(S), DNS and TCP servers.

Every server binds 127.0.0.1 on an ephemeral port by default, is started and stopped from
asyncio, and exposes the port it really got. Nothing here is imported by the sentinel itself.
"""

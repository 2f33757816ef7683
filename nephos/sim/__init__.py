"""Loopback simulators for tests and ``nephos demo``: certificates, HTTP(S), DNS and TCP servers,
and the Vultr, GCP and Azure APIs (``clouds``).

Every server binds 127.0.0.1 on an ephemeral port by default, is started and stopped from
asyncio, and exposes the port it really got. Nothing here is imported by the sentinel itself.
"""

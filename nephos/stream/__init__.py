"""The live stream: wire protocol, hub (server), and the resumable client with its transports.

- ``protocol``: the messages of docs/protocol.md as frozen dataclasses; parse and encode.
- ``hub``: :class:`~nephos.stream.hub.Hub` and ``serve_hub``, the WebSocket server that tails
  the hot store's change feed; ``session`` (one connection), ``subscription`` (filters) and
  ``metrics`` (Prometheus) serve it.
- ``client``: :class:`~nephos.stream.client.StreamClient`, the reconnect policy, over a
  ``transport`` (WebSocket), ``mock`` (in-memory hub) or ``replay`` (a recording) transport;
  ``backoff`` holds its retry delays.

Nothing is imported here, so that ``import nephos.stream.protocol`` stays cheap.
"""

"""``nephos agent``: this host's metrics, sampled with psutil and pushed to a hub's ingest.

- ``host``: :class:`~nephos.agent.host.HostSampler`, the psutil readings as metric points.
- ``pusher``: :class:`~nephos.agent.pusher.MetricPusher`, the on-disk buffer and the sender.
- ``runner``: :func:`~nephos.agent.runner.run_agent`, the sampling loop, and the default URL.
"""

"""The Prometheus exporter behind ``mapexplorer export``: value specs (:mod:`.spec`), per-map value series
(:mod:`.values`), the per-interval kernel snapshot (:mod:`.snapshot`), the ``prometheus_client`` collector
and poller (:mod:`.collector`) and the HTTP side (:mod:`.server`). No textual here.
"""

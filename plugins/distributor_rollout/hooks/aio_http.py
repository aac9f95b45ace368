"""aiobotocore's HTTP session with SSL contexts shared across clients (triggerer side only).

Its own module so that importing the hooks (every DAG file parse does) never imports
aiobotocore and aiohttp: ``MemberAccessHook.aio_config`` imports this when a trigger first
builds an async client.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from aiobotocore.httpsession import AIOHTTPSession  # type: ignore[import-untyped]


class SharedSslHttpSession(AIOHTTPSession):  # type: ignore[misc]
    """aiobotocore's HTTP session, with SSL contexts built once per process, not per client.

    aiobotocore builds a client's SSL context (loading the CA bundle) on its first
    request: about 30 ms of CPU, far more than the request itself on a warm connection.
    A poll builds one short-lived client per target, so sharing the context (safe across
    connections) is what keeps a poll's wall time near N × latency / concurrency.
    """

    _contexts: ClassVar[dict[tuple[Any, ...], Any]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def _build_ssl_contexts(self, proxy_url: str | None) -> Any:
        # aiobotocore calls this from a worker thread: build each distinct context once.
        key = (self._verify, self._cert_file, self._key_file, proxy_url)
        with self._lock:
            if key not in self._contexts:
                self._contexts[key] = super()._build_ssl_contexts(proxy_url)
            return self._contexts[key]

"""What changes in a namespace, as the shared list-watch tells it (`kube.informer`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from hopper_operator.kube.informer import Informers, Kind
from hopper_operator.resources.paths import instance_path

logger = logging.getLogger(__name__)

LIVE = (Kind.ADDED, Kind.MODIFIED, Kind.DELETED)


class InformerSource:
    def __init__(self, informers: Informers) -> None:
        self.informers = informers

    async def names(self, namespace: str) -> AsyncIterator[str]:
        """The name of every instance of `namespace` that changes from now on. After a
        reset, every name of the snapshot that follows (any may have changed); after an
        overflow, the changes since the last one told (a follower re-reads what it follows
        anyway: a change told twice costs one read)."""
        informer = self.informers.of(instance_path(namespace))
        live, after = False, None  # the first snapshot is what is there, not a change
        while True:
            subscription = await informer.subscribe(after=after)
            try:
                async for change in subscription:
                    if change.kind is Kind.SYNCED:
                        live = True
                    elif live and change.kind in LIVE and change.obj is not None:
                        after = change.version
                        yield change.obj["metadata"]["name"]
            finally:
                subscription.close()
            logger.warning("following %s: fell behind; following again", namespace)

"""What the controller remembers of each key between passes: one record per key.

Kopf's own queueing worker keeps its echo suppression in two locals; this is as small.
The watch echoes every write back, and a pass that wrote a step decides again on what it
wrote before it ends: the echo of that version, or of an earlier one of ours, brings
nothing new and need not wake another pass; nor does the ConfigMap it created, when it
holds the hash the pass went on to decide with. Every other version or hash, a deletion,
or a pass that ended early (waiting for that very echo) wakes one as usual.

How many times a key failed is the queue's (its rate limiter, as in controller-runtime);
the version it failed at is here, so that a newer one from the watch can reset it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Key = tuple[str, str]  # (namespace, name) of a HopperInstance


def revision(resource_version: str) -> int:
    # resourceVersions are opaque by contract but etcd revisions in every real apiserver;
    # an unparsable one disables the wait rather than blocking forever.
    try:
        return int(resource_version)
    except ValueError:
        return 0


@dataclass(slots=True)
class KeyRecord:
    expected: int = 0  # our own last write, until the index shows it
    decided: int = 0  # the version the last pass decided on and left as it was; 0: none
    config_hash: str | None = None  # the ConfigMap hash that pass decided with
    failed_at: int | None = None  # the version the key last failed at; None: not failing

    def behind(self, resource_version: str) -> bool:
        """The index has not yet shown our own last write."""
        return revision(resource_version) < self.expected

    def wrote(self, resource_version: str) -> None:
        self.expected = revision(resource_version)

    def decide(self, resource_version: str, config_hash: str | None = None) -> None:
        self.decided, self.config_hash = revision(resource_version), config_hash

    def undecide(self) -> None:
        """The echoes of what the pass wrote must wake it: it did not end at rest."""
        self.decided, self.config_hash = 0, None

    def failed(self, resource_version: str) -> None:
        # What we wrote ourselves before failing is not news: it must not reset the backoff.
        self.failed_at = max(revision(resource_version), self.expected)


@dataclass
class Records:
    _records: dict[Key, KeyRecord] = field(default_factory=dict)

    def __getitem__(self, key: Key) -> KeyRecord:
        return self._records.setdefault(key, KeyRecord())

    def drop(self, key: Key) -> None:
        self._records.pop(key, None)

    def covers(self, key: Key, resource_version: str) -> bool:
        """A pass already decided on this version (or a later one) and left it as it was."""
        record = self._records.get(key)
        return record is not None and 0 < revision(resource_version) <= record.decided

    def holds_config(self, key: Key, config_hash: str | None) -> bool:
        record = self._records.get(key)
        return (
            record is not None
            and record.config_hash is not None
            and (record.config_hash == config_hash)
        )

    def fresh(self, key: Key, resource_version: str) -> bool:
        """The watch brought a version newer than the one `key` last failed at: its failures
        are forgotten (a new spec deserves a fresh start). True when there were some."""
        record = self._records.get(key)
        if record is None or record.failed_at is None:
            return False
        if revision(resource_version) <= record.failed_at:
            return False
        record.failed_at = None
        return True

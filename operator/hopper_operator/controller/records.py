"""What the controller remembers of each key between passes: one record per key.

Kopf's own queueing worker keeps its echo suppression in two locals; this is as small.
The watch echoes every write back, and a pass that wrote a step decides again on what it
wrote before it ends: the echo of that version, or of an earlier one of ours, brings
nothing new and need not wake another pass; nor does the ConfigMap it created, when it
holds the hash the pass went on to decide with. Every other version or hash, a deletion,
or a pass that ended early (waiting for that very echo) wakes one as usual.

A record changes in one place, `outcome.conclude`, from what the pass's outcome carries
(its `Notes`). While a pass runs, its notes are read beside the record (`decided_on`,
`holds_config`): the echo of a write arrives while the pass is still sending the next
one, and the pass goes on to decide on it.

How many times a key failed is the queue's (its rate limiter, as in controller-runtime);
the version it failed at is here, so that a newer one from the watch can reset it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hopper_operator.kube.versions import revision

Key = tuple[str, str]  # (namespace, name) of a HopperInstance


@dataclass(frozen=True, slots=True)
class KeyRecord:
    expected: int = 0  # our own last write, until the index shows it
    decided: int = 0  # the version the last pass decided on and left as it was; 0: none
    config_hash: str | None = None  # the ConfigMap hash that pass decided with
    failed_at: int | None = None  # the version the key last failed at; None: not failing

    def behind(self, resource_version: str) -> bool:
        """The index has not yet shown our own last write."""
        return revision(resource_version) < self.expected


@dataclass(slots=True)
class Notes:
    """What one pass learns as it goes, for its key's record: its own last write of the
    instance, and the version (with the ConfigMap hash) it decided on and left as it was."""

    written: int = 0  # 0: it wrote no instance
    decided: int | None = None  # 0: nothing (its echoes must wake); None: not yet known
    config_hash: str | None = None

    def wrote(self, resource_version: str) -> None:
        self.written = revision(resource_version)

    def at_rest(self, resource_version: str, config_hash: str | None = None) -> None:
        """It decided on this version (and this ConfigMap hash) and left it as it was."""
        self.decided, self.config_hash = revision(resource_version), config_hash

    def not_at_rest(self) -> None:
        """The echoes of what the pass wrote must wake it: it did not end at rest."""
        self.decided, self.config_hash = 0, None


def learned(record: KeyRecord, notes: Notes) -> KeyRecord:
    """`record` once a pass that took `notes` has ended."""
    if notes.decided is None:
        return KeyRecord(notes.written, record.decided, record.config_hash, record.failed_at)
    return KeyRecord(notes.written, notes.decided, notes.config_hash, record.failed_at)


NO_RECORD = KeyRecord()


@dataclass
class Records:
    _records: dict[Key, KeyRecord] = field(default_factory=dict)
    _passes: dict[Key, Notes] = field(default_factory=dict)  # the passes under way

    def __getitem__(self, key: Key) -> KeyRecord:
        return self._records.get(key, NO_RECORD)

    def begin(self, key: Key) -> Notes:
        """The notes of a pass of `key` starting now, read until it is concluded."""
        notes = self._passes[key] = Notes()
        return notes

    def under_way(self, key: Key) -> Notes | None:
        return self._passes.get(key)

    def set_record(self, key: Key, record: KeyRecord | None) -> None:
        """For `outcome.conclude` alone: `key`'s record from now on (None: dropped); any
        pass of it has ended."""
        self._passes.pop(key, None)
        if record is None:
            self._records.pop(key, None)
        else:
            self._records[key] = record

    def _decided(self, key: Key) -> tuple[int, str | None] | None:
        notes = self._passes.get(key)
        if notes is not None and notes.decided is not None:
            return notes.decided, notes.config_hash
        record = self._records.get(key)
        return None if record is None else (record.decided, record.config_hash)

    def decided_on(self, key: Key, resource_version: str) -> bool:
        """A pass already decided on this version (or a later one) and left it as it was."""
        decided = self._decided(key)
        return decided is not None and 0 < revision(resource_version) <= decided[0]

    def holds_config(self, key: Key, config_hash: str | None) -> bool:
        decided = self._decided(key)
        return decided is not None and decided[1] is not None and decided[1] == config_hash

    def failed_before(self, key: Key, resource_version: str) -> bool:
        """The watch brought a version newer than the one `key` last failed at: its failures
        are to be forgotten (a new spec deserves a fresh start)."""
        failed_at = self[key].failed_at
        return failed_at is not None and revision(resource_version) > failed_at

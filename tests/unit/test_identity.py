"""The operator names itself without the passwd database (any uid must be able to run it)."""

from __future__ import annotations

import getpass

import pytest
from kopf._core.engines.peering import detect_own_id

from hopper_operator.cli.main import name_this_process


def _no_passwd_entry() -> str:
    raise KeyError("getpwuid(): uid not found: 65532")


def test_an_unknown_uid_still_gets_an_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POD_ID", raising=False)
    monkeypatch.setattr(getpass, "getuser", _no_passwd_entry)
    with pytest.raises(KeyError):
        detect_own_id(manual=False)  # what Kopf does on its own

    name_this_process()

    assert detect_own_id(manual=False)


def test_the_pod_name_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_ID", "hopper-operator-5d8f7-abcde")
    name_this_process()
    assert detect_own_id(manual=False) == "hopper-operator-5d8f7-abcde"

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
    monkeypatch.delenv("POD_NAME", raising=False)
    monkeypatch.setattr(getpass, "getuser", _no_passwd_entry)
    with pytest.raises(KeyError):
        detect_own_id(manual=False)  # what Kopf does on its own

    name_this_process()

    assert detect_own_id(manual=False)


def test_the_pod_name_from_the_downward_api_is_the_identity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("POD_ID", raising=False)
    monkeypatch.setenv("POD_NAME", "hopper-operator-5d8f7-abcde")
    monkeypatch.setattr(getpass, "getuser", _no_passwd_entry)
    name_this_process()
    assert detect_own_id(manual=False) == "hopper-operator-5d8f7-abcde"


def test_a_pod_id_set_by_hand_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_ID", "chosen")
    monkeypatch.setenv("POD_NAME", "hopper-operator-5d8f7-abcde")
    name_this_process()
    assert detect_own_id(manual=False) == "chosen"

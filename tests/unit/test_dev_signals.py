"""`hopper-localcluster dev` unwinds on SIGTERM and SIGHUP as on Ctrl-C, then restores them."""

from __future__ import annotations

import os
import signal

import pytest

from hopper_localcluster.dev import STOP_SIGNALS, Stopped, _stop_on_signals


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_unwinds_through_cleanups(sig: signal.Signals) -> None:
    before = signal.getsignal(sig)
    cleaned = False
    with pytest.raises(Stopped), _stop_on_signals():
        try:
            os.kill(os.getpid(), sig)
        finally:
            cleaned = True
    assert cleaned
    assert signal.getsignal(sig) == before
    assert sig in STOP_SIGNALS

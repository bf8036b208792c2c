"""Timing that survives a busy machine: every contender runs in turns, the best run of each counts."""

from __future__ import annotations

import time


def timed(fn):
    """Wrap a no-argument function so it returns its own wall time in seconds."""
    def run() -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0
    return run


def take_turns(contenders: dict, repeats: int, warmup: bool = True) -> dict:
    """Best seconds of each contender over `repeats` rounds (a, b, c, a, b, c, ...).

    Each contender is a function returning the seconds it took (so a contender running in
    another process can report its own time, without the messaging around it). Taking turns
    means a load spike hits all contenders alike; the best round is the least disturbed one.
    """
    if warmup:
        for fn in contenders.values():
            fn()
    best = {name: float("inf") for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            best[name] = min(best[name], fn())
    return best

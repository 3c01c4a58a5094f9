"""The runtime tuning: the GC threshold, and glibc's allocator set without spawning anything."""

from __future__ import annotations

import ctypes
import gc
import platform
import subprocess

import pytest

from pump import tuning

on_glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def test_gc_threshold_is_raised_and_never_lowered() -> None:
    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, saved[1], saved[2])
        tuning.tune_gc()
        assert gc.get_threshold() == (tuning.GC_YOUNG_THRESHOLD, saved[1], saved[2])
        gc.set_threshold(50_000, saved[1], saved[2])
        tuning.tune_gc()
        assert gc.get_threshold()[0] == 50_000
    finally:
        gc.set_threshold(*saved)


@pytest.mark.skipif(not on_glibc, reason="glibc's mallopt only exists on glibc")
def test_allocator_settings_are_applied_without_spawning_a_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[int, int]] = []

    class FakeLibc:
        def mallopt(self, option: int, value: int) -> int:
            calls.append((option, value))
            return 1

    def no_process(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"tune_allocator started a process: {args}")

    tuning._glibc.cache_clear()
    monkeypatch.setattr(ctypes, "CDLL", lambda name: FakeLibc())
    monkeypatch.setattr(subprocess, "Popen", no_process)
    try:
        assert tuning.tune_allocator() is True
        assert tuning.tune_allocator() is True
    finally:
        tuning._glibc.cache_clear()
    # trim threshold, top pad and (since setting those fixes it at 128 KiB) the mmap threshold
    expected = [(-1, 64 << 20), (-2, 16 << 20), (-3, tuning.MMAP_THRESHOLD)]
    assert calls == expected * 2


@pytest.mark.skipif(not on_glibc, reason="glibc's mallopt only exists on glibc")
def test_allocator_is_tuned_on_the_real_c_library() -> None:
    assert tuning.tune_allocator() is True

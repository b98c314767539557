"""The GUI-thread heartbeat of benchmarks/gui_latency.py: a 10 ms QTimer whose tick gaps are the event-loop stalls,
with a faulthandler watchdog that says where each stall > STALL_MS came from; and a real Qt event loop to run."""

from __future__ import annotations

import faulthandler
import re
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STALL_MS = 100.0


class Heartbeat:
    """A 10 ms QTimer on the GUI thread; `ticks` are perf_counter times, so gaps = np.diff(ticks).

    With `dump_to`, each tick re-arms `faulthandler.dump_traceback_later`: when the GUI thread misses
    STALL_MS, a C watchdog (it needs no GIL, so it also sees stalls inside C code holding the GIL, such
    as an extension module's init) dumps every thread's stack; the next tick writes a marker after it.
    That watchdog reads the other threads' frames without the GIL, which is not safe: about one run in ten here
    died of SIGSEGV with its stack file cut off mid-dump (three of ~25 on 2026-12-02, a core dump showing the crash in
    faulthandler's own thread, in `dump_frame`). Such a run reports nothing; run it again.
    """

    def __init__(self, interval_ms: int = 10, dump_to: Path | None = None) -> None:
        from qtpy.QtCore import Qt, QTimer

        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.ticks: list[float] = []
        # at the ticks that end a stall: (GUI-thread CPU seconds, seconds it was runnable but waited for a CPU)
        self.cpu: dict[float, tuple[float, float]] = {}
        self._cpu_last = (0.0, 0.0)
        self.dump = None if dump_to is None else open(dump_to, "w+")  # noqa: SIM115 (closed in stop)

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.dump is not None:
            if now - self.ticks[-1] > STALL_MS / 1000.0:
                cpu, queued = _thread_times()
                self.cpu[now] = (cpu - self._cpu_last[0], queued - self._cpu_last[1])
                self.dump.write(f"@@ gap {self.ticks[-1]!r} {now!r}\n")
                self.dump.flush()
            faulthandler.dump_traceback_later(STALL_MS / 1000.0, file=self.dump)
        self.ticks.append(now)
        self._cpu_last = _thread_times()

    def start(self) -> None:
        self.ticks.append(time.perf_counter())
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
        if self.dump is not None:
            faulthandler.cancel_dump_traceback_later()
            self.dump.flush()

    def gaps_ms(self, t0: float, t1: float) -> np.ndarray:
        """Gaps between consecutive ticks inside [t0, t1] (the window's edges count as ticks)."""
        t = np.asarray(self.ticks)
        t = np.concatenate([[t0], t[(t > t0) & (t < t1)], [t1]])
        return np.diff(t) * 1000.0

    def stalls(self) -> list[tuple[float, float, tuple[float, float], dict[str, list[str]]]]:
        """(start, end, (GUI-thread CPU, run-queue wait) seconds in it, {thread: frames innermost first}) of every
        stall."""
        if self.dump is None:
            return []
        self.dump.seek(0)
        out, pending = [], ""
        for line in self.dump:
            if line.startswith("@@ gap "):
                a, b = (float(v) for v in line.split()[2:4])
                out.append((a, b, self.cpu.get(b, (float("nan"),) * 2), _parse_dump(pending)))
                pending = ""
            else:
                pending += line
        return out


def _thread_times() -> tuple[float, float]:
    """This thread's CPU time and its time runnable but waiting for a core (Linux schedstat; NaN elsewhere), in s.

    Of a stall, CPU says what the GUI thread computed, the run-queue wait what a loaded machine withheld; the rest
    it was blocked (the GIL, a GL fence, the X server)."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            queued = int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        queued = float("nan")
    return time.thread_time(), queued


def _parse_dump(text: str) -> dict[str, list[str]]:
    """faulthandler's dump → {"GUI thread" | "thread 0x…": ["file.py:12 func", …]} (innermost first)."""
    main = f"0x{threading.main_thread().ident:016x}"
    threads: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        head = re.match(r"(?:Current thread|Thread) (0x[0-9a-f]+)", line)
        if head:
            current = "GUI thread" if head.group(1) == main else f"thread {head.group(1)}"
            threads[current] = []
        frame = re.match(r'\s+File "(.+)", line (\d+) in (\S+)', line)
        if frame and current is not None:
            path, lineno, func = frame.groups()
            path = re.sub(r"^.*/(site-packages|lib/python3\.\d+)/", "", path).replace(str(ROOT) + "/", "")
            threads[current].append(f"{path}:{lineno} {func}")
    idle = ("threading.py", "queue.py", "selectors.py", "concurrent/futures")
    busy = {k: v for k, v in threads.items() if v and not any(s in v[0] for s in idle)}
    return {("dock's thread" if k != "GUI thread" and any(f.startswith("napari_focus/") for f in v) else k): v
            for k, v in busy.items()}


def _where(frames: list[str], depth: int = 3) -> str:
    """The innermost product frame (the line that called in), then the innermost frames."""
    ours = next((f for f in frames if f.startswith("napari_focus/")), None)
    inner = " < ".join(frames[:depth])
    return f"{ours} … {inner}" if ours and ours not in frames[:depth] else inner


def where_stalls(beat: Heartbeat, t0: float, t1: float) -> list[str]:
    """One line per heartbeat gap > STALL_MS in [t0, t1]: when, how long, and each busy thread's stack."""
    lines = []
    for a, b, cpu, threads in beat.stalls():
        if b <= t0 or a >= t1:  # a stall overlapping the window counts (e.g. one that begins just before it)
            continue
        where = "; ".join(f"{name}: " + ("waiting in the event loop" if frames[0].startswith("benchmarks/")
                                         else f"`{_where(frames)}`") for name, frames in threads.items())
        lines.append(f"{a - t0:+.2f} s, {(b - a) * 1000:.0f} ms (GUI-thread CPU {cpu[0] * 1000:.0f} ms, "
                     f"waiting for a core {cpu[1] * 1000:.0f} ms): "
                     + (where or "not sampled"))
    return lines


def summarise_gaps(gaps: np.ndarray) -> dict[str, float]:
    return {"seconds": float(gaps.sum() / 1000.0), "ticks": int(gaps.size), "max": float(gaps.max()),
            "p99": float(np.percentile(gaps, 99)), "over": int((gaps > STALL_MS).sum())}


def run_loop(seconds: float | None = None, until: object = None) -> None:
    """Run a real Qt event loop (as napari.run does) for `seconds`, or until `until()` is true."""
    from qtpy.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    if seconds is not None:
        QTimer.singleShot(int(seconds * 1000), loop.quit)
    if until is not None:
        poll = QTimer()
        poll.timeout.connect(lambda: until() and loop.quit())
        poll.start(5)
    loop.exec_()

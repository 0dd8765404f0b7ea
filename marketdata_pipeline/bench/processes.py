"""CPU seconds and peak memory of a process tree, sampled in the background."""

from __future__ import annotations

import threading

import psutil


class ProcessSampler:
    """Samples the given root processes and all their descendants every `interval_s`.

    Short-lived children are seen only if they live past one sample, so the figures are lower bounds.
    """

    def __init__(self, roots: list[int], interval_s: float = 0.5):
        self.roots = roots
        self.interval_s = interval_s
        self.peak_rss: dict[int, tuple[str, int]] = {}
        self.cpu: dict[int, float] = {}
        self.cpu_at_start: dict[int, float] = {}  # long-lived processes carry earlier workloads' CPU
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="process-sampler")

    def _tree(self) -> list[psutil.Process]:
        procs = []
        for pid in self.roots:
            try:
                root = psutil.Process(pid)
                procs.append(root)
                procs.extend(root.children(recursive=True))
            except psutil.NoSuchProcess:
                continue
        return procs

    def sample(self) -> None:
        for proc in self._tree():
            try:
                with proc.oneshot():
                    rss = proc.memory_info().rss
                    times = proc.cpu_times()
                    name = " ".join(proc.cmdline()[:4])[-80:]
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            if rss > self.peak_rss.get(proc.pid, ("", 0))[1]:
                self.peak_rss[proc.pid] = (name, rss)
            # Own time only: a reaped child's time also shows up in its parent's children_* counters.
            self.cpu[proc.pid] = times.user + times.system
            self.cpu_at_start.setdefault(proc.pid, self.cpu[proc.pid] if self._thread.ident is None else 0.0)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def __enter__(self) -> ProcessSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def cpu_s(self, pid: int) -> float:
        return self.cpu.get(pid, 0.0) - self.cpu_at_start.get(pid, 0.0)

    def summary(self) -> dict:
        name, rss = max(self.peak_rss.values(), key=lambda v: v[1], default=("", 0))
        return {
            "cpu_s": round(sum(self.cpu_s(pid) for pid in self.cpu), 1),
            "peak_rss_mb": round(rss / 2**20, 1),
            "peak_rss_process": name,
        }

"""Time limits for code DAF does not own: a policy's construction and its steps, a mission's
`get_config()`, a batch of episodes.

`time_limit(seconds, what)` bounds a block. Two mechanisms, because third-party code can hang in
two ways:

- Python code (a loop, `time.sleep`, a blocked queue): an interval timer (SIGALRM) fires at the
  deadline and its handler raises `TimeLimitExceeded`, a one-line `UserError` naming `what` and
  the limit. It unwinds like any exception: `finally` blocks and DAF's own clean-up (replays
  written by the failed call are removed, outputs are only renamed into place at the end) run,
  nothing is written, exit status 2.
- Native code that never returns to the interpreter (a C extension spinning, a deadlocked lock):
  the signal's handler never runs. A watchdog thread waits `grace` seconds past the deadline,
  then prints the same line, kills this process's children and ends the process with
  `os._exit(2)`. Outputs DAF writes are renamed into place whole, so none is half-written.

Limits nest (an episode batch's limit around each step's limit): the earliest deadline is armed.
A SIGALRM handler and timer set before (pytest-timeout, a notebook's own alarm) are restored when
the last limit ends. Outside the main thread (where signals cannot be delivered) only the
watchdog acts.

`TimeLimits` holds the three limits of an evaluation; `TimeLimits.from_env()` reads the ones
the workflow passes in `DAF_TIME_LIMITS` (so changing a limit reruns no job: limits change
whether a job finishes, never what it computes).

Base module: imports nothing of DAF but `daf.errors`.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

from daf.errors import UserError

LIMITS_ENV = "DAF_TIME_LIMITS"  # e.g. "step=60,episode=3600,setup=300" (seconds; 0 = no limit)
GRACE = 5.0  # seconds the watchdog waits past a deadline for the signal's handler to act


class TimeLimitExceeded(UserError):
    """Code DAF does not own ran past its time limit (exit 2, one line)."""


@dataclass(frozen=True)
class TimeLimits:
    """Seconds allowed (None: no limit). `step`: one call of a policy's `act` (a batch of steps
    for all the agents and lockstep episodes it controls); `episode`: one episode (a batch of
    `num_envs` lockstep episodes gets `episode` x its size); `setup`: building a policy, a
    mission's `get_config()`."""

    step: float | None = 60.0
    episode: float | None = 3600.0
    setup: float | None = 300.0

    @classmethod
    def from_env(cls, step: float | None = None, episode: float | None = None,
                 setup: float | None = None) -> TimeLimits:  # fmt: skip
        """The limits from DAF_TIME_LIMITS (the workflow's config), the given values over them, the
        defaults under them. A value of 0 means no limit."""
        values = {}
        text = os.environ.get(LIMITS_ENV, "").strip()
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, sep, value = item.partition("=")
            if not sep or key not in ("step", "episode", "setup"):
                raise UserError(f"{LIMITS_ENV} entry '{item}' must be step=S, episode=S or setup=S (seconds)")
            values[key] = _seconds(value, f"{LIMITS_ENV} {key}")
        for key, value in (("step", step), ("episode", episode), ("setup", setup)):
            if value is not None:
                values[key] = _seconds(value, f"--{key}-timeout")
        return cls(**{key: (None if value == 0 else value) for key, value in values.items()})

    def to_env(self) -> str:
        return ",".join(f"{key}={value or 0:g}" for key, value in self.__dict__.items())


def _seconds(value, name: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{name} must be a number of seconds (0: no limit); got '{value}'") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise UserError(f"{name} must be a number of seconds >= 0 (0: no limit); got '{value}'")
    return seconds


class _Deadlines:
    """The armed limits of this process: a stack of (deadline, message), the earliest armed on
    the interval timer, and one watchdog thread. Whoever used SIGALRM before (pytest-timeout, a
    notebook's own alarm) gets its handler and its timer back when the last limit ends, and its
    alarm still fires in between if it falls due first."""

    def __init__(self):
        self.stack: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        self.watchdog: threading.Thread | None = None
        self.grace = GRACE
        self.previous = None  # (handler, deadline or None, interval) of SIGALRM before the first limit

    def earliest(self) -> tuple[float, str] | None:
        with self.lock:
            return min(self.stack) if self.stack else None

    def push(self, entry: tuple[float, str]) -> None:
        main = threading.current_thread() is threading.main_thread()
        with self.lock:
            if not self.stack and main:
                delay, interval = signal.getitimer(signal.ITIMER_REAL)
                deadline = time.monotonic() + delay if delay > 0 else None
                self.previous = (signal.getsignal(signal.SIGALRM), deadline, interval)
            self.stack.append(entry)
        if main:
            signal.signal(signal.SIGALRM, self._on_alarm)
            self.arm()

    def pop(self, entry: tuple[float, str]) -> None:
        main = threading.current_thread() is threading.main_thread()
        with self.lock:
            self.stack.remove(entry)
            empty = not self.stack
        if not main:
            return
        if empty and self.previous is not None:
            handler, deadline, interval = self.previous
            self.previous = None
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, handler if handler is not None else signal.SIG_DFL)
            if deadline is not None:
                signal.setitimer(signal.ITIMER_REAL, max(deadline - time.monotonic(), 1e-3), interval)
            return
        self.arm()

    def arm(self) -> None:
        """Set the interval timer to the earliest of our deadlines and the previous alarm's."""
        first = self.earliest()
        due = [first[0]] if first else []
        if self.previous is not None and self.previous[1] is not None:
            due.append(self.previous[1])
        signal.setitimer(signal.ITIMER_REAL, max(min(due) - time.monotonic(), 1e-3) if due else 0)

    def _on_alarm(self, signum, frame) -> None:
        now = time.monotonic()
        previous = self.previous
        if previous is not None and previous[1] is not None and previous[1] <= now:
            self.previous = (previous[0], None, previous[2])  # it fired; fire it once
            if callable(previous[0]):
                previous[0](signum, frame)
        first = self.earliest()
        if first is not None and first[0] <= now:
            raise TimeLimitExceeded(first[1])
        self.arm()

    def start_watchdog(self) -> None:
        if self.watchdog is None or not self.watchdog.is_alive():
            self.watchdog = threading.Thread(target=self._watch, name="daf-time-limit", daemon=True)
            self.watchdog.start()

    def _watch(self) -> None:
        while True:
            first = self.earliest()
            if first is None:
                time.sleep(0.5)
                continue
            late = time.monotonic() - first[0] - self.grace
            if late < 0:
                time.sleep(min(-late, 0.5))
                continue
            if self.earliest() == first:  # still running past deadline + grace: native code ignores the signal
                _end_process(first[1])


DEADLINES = _Deadlines()


def _end_process(message: str) -> None:
    """Print the limit's line, end this process's children, exit 2 (from the watchdog thread)."""
    print(f"daf: error: {message}", file=sys.stderr, flush=True)
    try:
        import psutil

        for child in psutil.Process().children(recursive=True):
            child.kill()
    except Exception:  # noqa: BLE001 - ending the process matters more than its children here
        pass
    os._exit(TimeLimitExceeded.exit_code)


SETTINGS = {
    "step": "evaluation.step_timeout / --step-timeout",
    "episode": "evaluation.episode_timeout / --episode-timeout",
    "setup": "evaluation.setup_timeout / --setup-timeout",
}


@contextmanager
def time_limit(seconds: float | None, what: str, kind: str):
    """Raise TimeLimitExceeded("`what` took longer than its limit of S s (the setting)") if the
    block runs past `seconds` (None or 0: no limit). `what` names the culprit, e.g. "policy 'x' on
    mission 'm' in episodes 0-15: a step"; `kind` (step, episode, setup) names the setting."""
    if not seconds:
        yield
        return
    message = f"{what} took longer than its limit of {seconds:g} s ({SETTINGS[kind]})"
    entry = (time.monotonic() + seconds, message)
    DEADLINES.start_watchdog()
    DEADLINES.push(entry)
    try:
        yield
    finally:
        DEADLINES.pop(entry)

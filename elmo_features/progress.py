"""Progress of one long stage, where people look, and never on stdout (that is for results).

On a terminal: a tqdm bar on stderr. Elsewhere (a log file, CI): a plain line every :data:`EVERY_S`
seconds with done/total, the rate and an ETA, and a final line. Disabled (``--quiet``): nothing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from tqdm import tqdm

EVERY_S = 30.0  # seconds between two plain progress lines


class Progress:
    """``update(n)`` as work is done; ``set_postfix`` adds values (ppl, loss...) to the bar and the lines.

    A context manager: leaving it normally prints the final line; leaving on an error does not.
    """

    def __init__(
        self,
        desc: str,
        total: float | None = None,
        unit: str = "it",
        *,
        initial: float = 0,
        enabled: bool = True,
        unit_scale: bool = False,
        every: float | None = None,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.desc, self.total, self.unit, self.unit_scale = desc, total, unit, unit_scale
        self.n = self.initial = initial
        self.enabled, self.every, self.clock = enabled, EVERY_S if every is None else every, clock
        self.stream = stream or sys.stderr
        self.postfix: dict[str, object] = {}
        self.bar: tqdm | None = None
        if enabled and self.stream.isatty():
            self.bar = tqdm(
                desc=desc,
                total=total,
                initial=initial,
                unit=unit,
                unit_scale=unit_scale,
                file=self.stream,
                dynamic_ncols=True,
            )
        self.start = self.last = clock()
        self.closed = False

    def update(self, n: float = 1) -> None:
        self.n += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled and (now := self.clock()) - self.last >= self.every:
            self.last = now
            self._line(now)

    def set_postfix(self, **values: object) -> None:
        self.postfix = values
        if self.bar is not None:
            self.bar.set_postfix(values, refresh=False)

    def set_total(self, total: float | None) -> None:
        self.total = total
        if self.bar is not None:
            self.bar.total = total

    def write(self, line: str) -> None:
        """A line of its own (above the bar on a terminal); nothing when disabled."""
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        elif self.enabled:
            print(line, file=self.stream, flush=True)

    def close(self, final: bool = True) -> None:
        """Close the bar, or print the final line (unless ``final`` is False); once."""
        if self.closed:
            return
        self.closed = True
        if self.bar is not None:
            self.bar.close()
        elif self.enabled and final:
            self._line(self.clock(), final=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.close(final=kind is None)

    def _amount(self, x: float, per_s: str = "") -> str:
        if self.unit_scale:
            return f"{tqdm.format_sizeof(x)}{self.unit}{per_s}"
        return (f"{x:,.0f}" if x >= 100 else f"{x:.3g}") + f" {self.unit}{per_s}"

    def _line(self, now: float, final: bool = False) -> None:
        elapsed = now - self.start
        rate = (self.n - self.initial) / elapsed if elapsed > 0 else None
        done = self._amount(self.n)
        if self.total:
            done = f"{self._amount(self.n).removesuffix(' ' + self.unit)}/{self._amount(self.total)}"
            done += f" ({100 * self.n / self.total:.0f}%)"
        parts = [f"{self.desc}: {done}"]
        if rate is not None:
            parts.append(self._amount(rate, "/s"))
        if final:
            parts.append(f"done in {tqdm.format_interval(elapsed)}")
        elif self.total and rate:
            parts.append(f"ETA {tqdm.format_interval(max(self.total - self.n, 0) / rate)}")
        parts += [f"{key} {value}" for key, value in self.postfix.items()]
        print(", ".join(parts), file=self.stream, flush=True)

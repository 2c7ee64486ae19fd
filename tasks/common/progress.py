"""Training progress where people look: a bar on stderr when it is a terminal, plain periodic lines
when it is not (a log file, CI), and always the run's ``train.log``.

Imported by :func:`tasks.common.trainer.train` once Lightning is loaded.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm

from elmo_features.progress import EVERY_S  # seconds between two progress lines within an epoch

log = logging.getLogger("tasks.train")


class StderrBar(TQDMProgressBar):
    """Lightning's tqdm bar on stderr (Lightning's own writes to stdout, which is for results)."""

    def _bar(self, description: str, position: int, leave: bool) -> Tqdm:
        return Tqdm(
            desc=description,
            position=position,
            disable=self.is_disabled,
            leave=leave,
            dynamic_ncols=True,
            file=sys.stderr,
            smoothing=0,
            bar_format=self.BAR_FORMAT,
        )

    def init_train_tqdm(self) -> Tqdm:
        return self._bar(self.train_description, 2 * self.process_position, True)

    def init_validation_tqdm(self) -> Tqdm:
        has_main_bar = self.trainer.state.fn != "validate"
        return self._bar(self.validation_description, 2 * self.process_position + has_main_bar, not has_main_bar)


class ProgressLines(L.Callback):
    """A line every ``every`` seconds inside an epoch, and one per finished epoch with its scores."""

    def __init__(self, every: float = EVERY_S) -> None:
        self.every = every
        self.started = self.last = 0.0

    def on_train_epoch_start(self, trainer, module) -> None:
        self.started = self.last = time.monotonic()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            total = trainer.num_training_batches
            share = f" ({100 * (batch_idx + 1) / total:.0f}%)" if isinstance(total, int) and total else ""
            log.info(
                "epoch %d/%d: batch %d/%s%s", trainer.current_epoch + 1, trainer.max_epochs, batch_idx + 1, total, share
            )

    def on_train_epoch_end(self, trainer, module) -> None:
        scores = ", ".join(f"{k} {float(v):.4g}" for k, v in sorted(trainer.callback_metrics.items()))
        seconds = time.monotonic() - self.started
        log.info("epoch %d/%d done in %.0f s: %s", trainer.current_epoch + 1, trainer.max_epochs, seconds, scores)


def show_bar(quiet: bool) -> bool:
    """The bar only on a terminal, and not when ``quiet``."""
    return not quiet and sys.stderr.isatty()


@contextlib.contextmanager
def run_log(path: Path | None, quiet: bool) -> Iterator[None]:
    """Progress lines (and Lightning's notices) into ``path`` (appended, so a resumed run keeps its
    history), and onto stderr when it is not a terminal and not ``quiet``."""
    form = logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S")
    attached: list[tuple[logging.Logger, logging.Handler]] = []
    if path is not None:  # Lightning's notices too: it prints them itself, so only into the file
        handler = logging.FileHandler(path, encoding="utf-8")
        attached += [(log, handler), (logging.getLogger("lightning.pytorch"), handler)]
    if not quiet and not sys.stderr.isatty():
        attached.append((log, logging.StreamHandler(sys.stderr)))
    level, propagate = log.level, log.propagate
    log.setLevel(logging.INFO)
    log.propagate = False  # printed once, by these handlers
    for logger, handler in attached:
        handler.setFormatter(form)
        logger.addHandler(handler)
    try:
        yield
    finally:
        log.setLevel(level)
        log.propagate = propagate
        for logger, handler in attached:
            logger.removeHandler(handler)
            handler.close()

"""Where a training epoch of a task head spends its CPU time, phase by phase (issue 14, item 5).

Builds the task exactly as ``elmo-tasks train`` does (the task registry's ``build``: the same splits,
vocabulary, embedder, model, length-bucketed loaders and collate), then runs the first ``--batches``
training steps of epoch 1 (forward, backward, gradient clipping, the optimizer of ``configure_optimizers``)
and one full dev evaluation (what the trainer scores after every epoch), timing each phase with
``time.process_time()``: the CPU time of this process, all its threads. Run it with one thread
(``OMP_NUM_THREADS=1``, the default ``--threads 1``) so that CPU time is the work done, even on a machine
whose cores are busy with other jobs (there wall time is not).

Phases of a training step: ``data`` (the loader: sampler and collate), ``embedder`` (the token embedder's
forward), ``chars`` (the char CNN's forward, when the head has one), ``crf`` (the CRF's log-likelihood,
NER), ``head`` (the rest of the forward), ``backward``, ``optimizer`` (clipping and the step). The
epoch estimate is the mean step times the epoch's batches plus the dev evaluation. Not timed: Lightning's
own per-step work (logging, callbacks), which ``--lightning`` measures by fitting the same batches
through the trainer's module.

    DATA_DIR=... OMP_NUM_THREADS=1 python benchmarks/head_profile.py configs/qa/squad_articles_cpu_glove6b.yaml \
        --batches 100 [--set trainer.seed=1] [--torch-profile] [-o result.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from elmo_features.errors import ElmoError
from tasks.common.config import load_config
from tasks.common.task import score_batches
from tasks.common.trainer import _lightning_module, deterministic, get_task, make_optimizer

PHASES = ("data", "embedder", "chars", "crf", "head", "backward", "optimizer")


class Clock:
    """Process CPU seconds per phase. Module phases wrap the module's methods (the embedder's ``forward`` and
    ``with_extras``); a phase already open is not timed again, and the forward's total minus its module
    phases is charged to ``head``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._open: set[str] = set()

    @contextmanager
    def phase(self, name: str):
        if name in self._open:  # a nested call of the same phase (with_extras calling forward)
            yield
            return
        self._open.add(name)
        start = time.process_time()
        try:
            yield
        finally:
            self.seconds[name] += time.process_time() - start
            self._open.discard(name)

    def wrap(self, module: nn.Module | None, name: str, methods: tuple[str, ...] = ("forward",)) -> None:
        for method in methods if module is not None else ():
            original = getattr(module, method)

            def timed(*args, _original=original, **kwargs):
                with self.phase(name):
                    return _original(*args, **kwargs)

            setattr(module, method, timed)


def tokens_of(batch) -> int:
    """Real tokens of a batch: every TokenBatch's mask (QA: question and passage)."""
    return sum(int(part.mask.sum()) for part in batch if hasattr(part, "mask"))


def profile(config, batches: int, torch_profile: bool) -> dict:
    task = get_task(config.task.name)
    start = time.process_time()
    built = task.build(config)
    build_s = time.process_time() - start
    model = built.model
    model.train()
    clock = Clock()
    clock.wrap(model.embedder, "embedder", ("forward", "with_extras"))
    clock.wrap(getattr(model, "char_features", None), "chars")
    clock.wrap(getattr(model, "crf", None), "crf")
    optimizer = make_optimizer(model, config.trainer)
    loader = built.train_loader
    loader.batch_sampler.set_epoch(0)
    steps = min(batches, len(loader))
    tokens = 0
    profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) if torch_profile else None
    if profiler is not None:
        profiler.start()
    iterator = iter(loader)
    for _ in range(steps):
        with clock.phase("data"):
            batch = next(iterator)
        tokens += tokens_of(batch)
        with clock.phase("forward"):
            loss = task.training_loss(model, batch)
        with clock.phase("backward"):
            loss.backward()
        with clock.phase("optimizer"):
            if config.trainer.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), config.trainer.grad_clip)
            optimizer.step()
            optimizer.zero_grad()
    if profiler is not None:
        profiler.stop()
    seconds = dict(clock.seconds)
    forward = seconds.pop("forward")
    seconds["head"] = forward - sum(seconds.get(k, 0.0) for k in ("embedder", "chars", "crf"))
    step_s = sum(seconds.values())
    dev_s = dev_batches = 0
    if built.validation_loader is not None:
        start = time.process_time()
        scores = score_batches(model, built.validation_loader, task.gold_and_predicted, task.score)
        dev_s, dev_batches = time.process_time() - start, len(built.validation_loader)
    result = {
        "config": config.name,
        "threads": torch.get_num_threads(),
        "build_cpu_s": round(build_s, 2),
        "batches_timed": steps,
        "epoch_batches": len(loader),
        "train_tokens_per_cpu_s": round(tokens / step_s),
        "phases_cpu_s": {k: round(seconds[k], 3) for k in PHASES if k in seconds},
        "phases_share": {k: round(seconds[k] / step_s, 3) for k in PHASES if k in seconds},
        "step_cpu_ms": round(1000 * step_s / steps, 2),
        "dev_cpu_s": round(dev_s, 2),
        "dev_batches": dev_batches,
        "dev_score": round(float(scores[task.MONITOR]), 3) if dev_batches else None,
        "loss_last": round(float(loss.detach()), 6),
        "epoch_cpu_s_estimate": round(step_s / steps * len(loader) + dev_s, 1),
    }
    if profiler is not None:
        print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=25), file=sys.stderr)
    return result


def lightning_overhead(config, batches: int) -> dict:
    """CPU seconds of fitting ``batches`` steps through the trainer's Lightning module (no dev, no
    checkpoints), to set against the same steps' phases above."""
    import lightning as L

    task = get_task(config.task.name)
    built = task.build(config)
    trainer = L.Trainer(
        max_epochs=1, limit_train_batches=batches, limit_val_batches=0, accelerator="cpu", devices=1,
        gradient_clip_val=config.trainer.grad_clip, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    )  # fmt: skip
    start = time.process_time()
    trainer.fit(_lightning_module(built.model, task, config), train_dataloaders=built.train_loader)
    return {"lightning_fit_cpu_s": round(time.process_time() - start, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="a config file or built-in name")
    parser.add_argument("--set", action="append", default=[], help="config override key=value (repeatable)")
    parser.add_argument("--batches", type=int, default=150, help="training steps to time (default 150)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--torch-profile", action="store_true", help="also print torch.profiler's top operators")
    parser.add_argument("--lightning", action="store_true", help="also time the same steps through Lightning")
    parser.add_argument("-o", "--output", help="append the JSON result to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    deterministic()  # as the trainer runs
    try:
        config = load_config(args.config, args.set)
    except ElmoError as err:  # an unknown config name, a bad override: one line, as the CLI gives
        sys.exit(f"head_profile: error: {err}")
    result = profile(config, args.batches, args.torch_profile)
    if args.lightning:
        result.update(lightning_overhead(config, args.batches))
    text = json.dumps(result)
    print(text)
    if args.output:
        with Path(args.output).open("a", encoding="utf-8") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()

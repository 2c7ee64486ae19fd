"""The shared training path: a task model inside a LightningModule, trained by Lightning.

``train(config, run_dir)`` seeds everything, builds the task (data, vocabularies, model) through
its registered :class:`~tasks.common.task.Task`, trains with
early stopping on the task's validation score, keeps the best and the last checkpoint, logs per
epoch, and then evaluates the best weights on the validation and test splits. The run folder::

    config.yaml       the resolved config (written at the start, rewritten on resume)
    vocab.json        what the task needs to rebuild its model (labels, chars, words...)
    checkpoints/      best.ckpt (by the validation score) and last.ckpt (for --resume)
    logs/metrics.csv  per-epoch train loss and validation score (Lightning's CSVLogger)
    model.pt          the best weights as a plain state dict (read with weights_only=True)
    metrics.json      {"dev": scores, "test": scores, "epochs": N, "best_epoch": k, "stopped_early": bool, ...}

``trainer.devices: N`` (N > 1) trains with DDP over N processes (gloo on CPU): Lightning starts
the other processes by running the same command again; under ``torchrun`` it joins the group
torchrun made. Every rank reads its share of the training batches; validation predictions are
gathered from all ranks before scoring, so every rank sees the same score. Rank 0 writes.

Checkpoints are only ever read with ``weights_only=True`` (no pickled code runs).
"""

from __future__ import annotations

import csv
import json
import signal
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from elmo_features.atomic import atomic_path, check_output_folder, write_text_atomic
from elmo_features.distributed import env_rank, gather
from elmo_features.embedders import coverage_line
from elmo_features.errors import ElmoError
from elmo_features.machine import machine
from tasks.common.config import TrainConfig, TrainerConfig, dump_config
from tasks.common.task import Task, get_task, vector_coverage, vector_sources

CHECKPOINTS = "checkpoints"
MODEL_FILE = "model.pt"
LOG = "logs/metrics.csv"


def monitor_name(task: Task) -> str:
    """The logged validation score early stopping and the best checkpoint follow (``val_f1``...)."""
    return f"val_{task.MONITOR}"


def load_safely(path: Path) -> Any:
    """``torch.load`` with ``weights_only=True`` (never runs code from the file); any failure is one line."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ElmoError(f"no model weights at {path}") from None
    except Exception as err:  # an unpickling refusal, a truncated file
        raise ElmoError(f"{path}: cannot load weights safely ({str(err).splitlines()[0][:200]})") from None


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Model weights from ``model.pt`` or a Lightning checkpoint, loaded with ``weights_only=True``."""
    data = load_safely(path)
    if isinstance(data, dict) and "state_dict" in data:  # a Lightning checkpoint: strip the wrapper's prefix
        data = {k.removeprefix("model."): v for k, v in data["state_dict"].items()}
    return data


def deterministic() -> None:
    """PyTorch's deterministic kernels, without the NaN fill of every new tensor that comes with them by default
    (``fill_uninitialized_memory``, a check for kernels reading memory they never wrote): it cost 16% of a QA
    training step's CPU time, and the same seed gives the same weights without it."""
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.utils.deterministic.fill_uninitialized_memory = False


def _lightning_module(model: nn.Module, task: Task, config: TrainConfig):
    import lightning as L

    class TaskModule(L.LightningModule):
        """Loss from :meth:`Task.training_loss`; validation predictions scored by the task."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self._gold: list = []
            self._pred: list = []

        def training_step(self, batch, batch_idx):
            loss = task.training_loss(self.model, batch)
            self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(batch[-1]), sync_dist=True)
            return loss

        def validation_step(self, batch, batch_idx):
            gold, predicted = task.gold_and_predicted(self.model, batch)
            self._gold.extend(gold)
            self._pred.extend(predicted)

        def on_validation_epoch_end(self):
            gold = [x for part in gather(self._gold) for x in part]  # every rank's predictions
            predicted = [x for part in gather(self._pred) for x in part]
            scores = task.score(gold, predicted, self.model)
            self._gold, self._pred = [], []
            self.log(monitor_name(task), float(scores[task.MONITOR]), prog_bar=True, sync_dist=True)

        def on_save_checkpoint(self, checkpoint: dict) -> None:
            checkpoint["torch_rng"] = torch.get_rng_state()  # dropout's: --resume continues the same draws

        def on_load_checkpoint(self, checkpoint: dict) -> None:
            if "torch_rng" in checkpoint:
                torch.set_rng_state(checkpoint["torch_rng"])

        def configure_optimizers(self):
            return make_optimizer(self.model, config.trainer)

    return TaskModule()


def param_groups(model: nn.Module, lr: float) -> list[dict[str, Any]]:
    """The head's trainable parameters at ``lr``, then one group per fine-tuned module (a trainable biLM) at
    ``lr`` times its ``lr_scale``, with all its parameters, frozen ones too: the warm-up unfreezes them later."""
    groups, tuned = [], set()
    for part in model.embedder.fine_tuned():
        params = list(part.module.parameters())
        tuned.update(id(p) for p in params)
        groups.append({"params": params, "lr": lr * part.lr_scale})
    head = [p for p in model.parameters() if p.requires_grad and id(p) not in tuned]
    return [{"params": head, "lr": lr}, *groups]


def make_optimizer(model: nn.Module, trainer: TrainerConfig) -> torch.optim.Optimizer:
    """SGD or Adam over :func:`param_groups`. Adam runs fused (one pass over each tensor; its step took 6x less
    CPU time on SST-2's 9.6M-parameter head, same numbers up to float rounding), except under bf16-mixed, where
    Lightning refuses to clip the gradients of a fused optimizer."""
    groups = param_groups(model, trainer.lr)
    if trainer.optimizer == "sgd":
        return torch.optim.SGD(groups)
    return torch.optim.Adam(groups, fused=trainer.precision == "32")


def _frozen_warm_up(model: nn.Module):
    """A callback that freezes each fine-tuned module for its first ``frozen_epochs`` epochs (also on resume)."""
    import lightning as L

    parts = model.embedder.fine_tuned()

    class FrozenWarmUp(L.Callback):
        def on_train_epoch_start(self, trainer, module) -> None:
            for part in parts:
                part.module.requires_grad_(trainer.current_epoch >= part.frozen_epochs)

    return FrozenWarmUp()


def _check_same_run(path: Path, config: TrainConfig) -> None:
    """On resume only the trainer section may change (more epochs, another patience...)."""
    if not path.is_file():
        return
    from tasks.common.config import expand_env, read_yaml

    before = expand_env(read_yaml(path, str(path)), str(path))  # a benchmark run's may hold ${DATA_DIR}
    now = config.model_dump(mode="json")
    for section in ("task", "data", "embedder", "model"):
        if isinstance(before, dict) and before.get(section) != now[section]:
            raise ElmoError(
                f"cannot resume {path.parent}: the {section!r} section differs from the run's config.yaml "
                "(on resume only 'trainer' settings may change)"
            )


def _read_log(path: Path, before_epoch: int) -> list[dict[str, str]]:
    """Rows of a CSVLogger file for the epochs before ``before_epoch`` (those the checkpoint holds)."""
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return [r for r in csv.DictReader(handle) if r.get("epoch", "").isdigit() and int(r["epoch"]) < before_epoch]


def _resumed(history: list[dict[str, str]], early, patience: int):
    """A callback for a resumed fit, as it starts (Lightning has restored the checkpoint's callbacks by then): the
    configured patience replaces the checkpoint's; a run whose epochs without improvement already reach it has
    stopped and trains no further (killed before it wrote its metrics, or resumed as it was), while one that has
    not forgets the checkpoint's early stop (given more patience at its epoch cap, it ends at the cap, not early);
    and the epochs already logged go back into the CSVLogger's new file (the logger deletes the old one), so a
    resumed run that is killed again still holds them."""
    import lightning as L

    class Resumed(L.Callback):
        def on_fit_start(self, trainer, module) -> None:
            if early is not None:
                early.patience = patience
                if early.wait_count >= patience:
                    early.stopped_epoch = max(early.stopped_epoch, trainer.current_epoch)
                    trainer.should_stop = True
                else:
                    early.stopped_epoch = 0
            if trainer.is_global_zero and history:
                writer = trainer.logger.experiment
                writer.metrics[:0] = [{k: v for k, v in row.items() if v != ""} for row in history]
                writer.save()

    return Resumed()


def _check_run_dir(run_dir: Path, resume: bool, config: TrainConfig, rank: int) -> Path | None:
    last = run_dir / CHECKPOINTS / "last.ckpt"
    if resume:
        if not last.is_file():
            raise ElmoError(f"cannot resume: no checkpoint at {last} (train without --resume first)")
        _check_same_run(run_dir / "config.yaml", config)
        return last
    if rank == 0:
        check_output_folder(run_dir)  # before the data is read: a file in the way, a folder refusing writes
        if run_dir.exists() and any(run_dir.iterdir()):
            raise ElmoError(f"run folder {run_dir} exists and is not empty (use --resume to continue it, or a new -o)")
    return None


def _fit(trainer, module, **kwargs) -> None:
    """``trainer.fit``, where Ctrl-C is a KeyboardInterrupt as everywhere else: Lightning turns it into
    ``sys.exit(1)`` and leaves SIGINT ignored. The checkpoints of the finished epochs stay, for --resume."""
    handler = signal.getsignal(signal.SIGINT)
    try:
        trainer.fit(module, **kwargs)
    except SystemExit:
        if trainer.interrupted:
            raise KeyboardInterrupt from None
        raise
    finally:
        signal.signal(signal.SIGINT, handler)


def train(config: TrainConfig, run_dir: Path, resume: bool = False, quiet: bool = False) -> dict[str, Any]:
    """Train ``config`` into ``run_dir`` (or continue it from its last checkpoint); the metrics dict.
    ``quiet``: no progress bar and no Lightning banners (for callers that print their own lines)."""
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    from tasks.common.progress import ProgressLines, StderrBar, log, run_log, show_bar
    from tasks.common.run_report import write_run_report

    run_dir = Path(run_dir)
    rank = env_rank()
    last = _check_run_dir(run_dir, resume, config, rank)
    task = get_task(config.task.name)
    monitor = monitor_name(task)
    L.seed_everything(config.trainer.seed, workers=True, verbose=False)
    deterministic()

    built = task.build(config)  # reads and checks the data before anything is written
    fine_tuned = built.model.embedder.fine_tuned()
    if config.trainer.devices > 1 and any(part.frozen_epochs for part in fine_tuned):
        raise ElmoError("embedder.frozen_epochs needs trainer.devices: 1 (DDP fixes the trained parameters at start)")
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        # metrics.json says the run is finished: a resumed one is not, until this fit writes it again (killed on
        # the way, it must not pass for finished under the config.yaml written next)
        (run_dir / "metrics.json").unlink(missing_ok=True)
        write_text_atomic(run_dir / "config.yaml", dump_config(config))
        vocab = {**built.vocab, "vectors": vector_sources(built.model)}  # new words' vectors at predict time
        write_text_atomic(run_dir / "vocab.json", json.dumps(vocab, ensure_ascii=False, indent=1) + "\n")
        if not quiet:
            for coverage in vector_coverage(built.model):
                print(coverage_line(coverage), file=sys.stderr)
            for part in fine_tuned:
                print(part.note, file=sys.stderr)

    has_dev = built.validation is not None
    folder = {"dirpath": run_dir / CHECKPOINTS, "enable_version_counter": False, "auto_insert_metric_name": False}
    # best.ckpt when the dev score improves; last.ckpt after every epoch (what --resume continues from), after
    # best.ckpt (Lightning runs the checkpoint callbacks last, in this order), so that it holds this epoch's best
    # score: saved first, a resumed run compared its next epochs with the best score of the epoch before, and
    # could replace best.ckpt by a worse epoch
    callbacks: list = []
    checkpoint = early = None
    if has_dev:
        checkpoint = ModelCheckpoint(filename="best", monitor=monitor, mode="max", save_top_k=1, **folder)
        early = EarlyStopping(monitor=monitor, mode="max", patience=config.trainer.patience)
        callbacks += [checkpoint, early]
    callbacks += [ModelCheckpoint(filename="last", monitor=None, save_top_k=1, **folder), ProgressLines()]
    callbacks += [StderrBar()] if show_bar(quiet) else []
    resumed_from = None
    if last is not None:
        resumed_from = int(load_safely(last)["epoch"]) + 1
        history = _read_log(run_dir / LOG, resumed_from)  # the epochs the checkpoint holds
        callbacks.append(_resumed(history, early, config.trainer.patience))
    if fine_tuned:
        callbacks.append(_frozen_warm_up(built.model))
    if quiet:
        import logging

        for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
            logging.getLogger(name).setLevel(logging.WARNING)
    devices = config.trainer.devices
    trainer = L.Trainer(
        max_epochs=config.trainer.epochs,
        accelerator="auto",
        devices=devices,
        strategy="ddp" if devices > 1 else "auto",
        use_distributed_sampler=False,  # the tasks' batch samplers shard themselves (tasks.common.batching)
        precision="bf16-mixed" if config.trainer.precision == "bf16" else "32-true",
        gradient_clip_val=config.trainer.grad_clip,
        callbacks=callbacks,
        logger=CSVLogger(run_dir, name="logs", version=""),
        log_every_n_steps=1,
        num_sanity_val_steps=0,
        enable_model_summary=False,
        enable_progress_bar=show_bar(quiet),
        limit_val_batches=None if has_dev else 0,
    )
    with run_log(run_dir / "train.log" if rank == 0 else None, quiet):
        module = _lightning_module(built.model, task, config)
        with warnings.catch_warnings():
            if last is not None:  # expected on resume: the folders hold the run being continued
                warnings.filterwarnings("ignore", message=r"(Experiment logs|Checkpoint) directory .* exists")
            warnings.filterwarnings("ignore", message=r".*LeafSpec.* is deprecated")
            warnings.filterwarnings(
                "ignore", message=r"Found \d+ module\(s\) in eval mode"
            )  # the frozen biLM, by design
            warnings.filterwarnings("ignore", message=r"You defined a `validation_step` but have no `val_dataloader`")
            _fit(
                trainer,
                module,
                train_dataloaders=built.train_loader,
                val_dataloaders=built.validation_loader,
                ckpt_path=last,
                weights_only=True,  # the checkpoint is read without unpickling code
            )

        if not trainer.is_global_zero:
            return {}
        best = (
            Path(checkpoint.best_model_path)
            if checkpoint is not None and checkpoint.best_model_path
            else run_dir / CHECKPOINTS / "last.ckpt"
        )
        best_checkpoint = torch.load(best, map_location="cpu", weights_only=True)
        state = {k.removeprefix("model."): v for k, v in best_checkpoint["state_dict"].items()}
        built.model.load_state_dict(state)
        with atomic_path(run_dir / MODEL_FILE) as tmp:
            torch.save(state, tmp)

        metrics: dict[str, Any] = {}
        if built.validation is not None:
            metrics["dev"] = task.evaluate(built.model, built.validation, config)
        if built.test is not None:
            metrics["test"] = task.evaluate(built.model, built.test, config)
        metrics["scale"] = "percent"  # every task's scores (F1, accuracy, EM) are 0-100
        metrics["epochs"] = max(int(trainer.current_epoch), resumed_from or 0)  # a resume that stops at once: ahead
        metrics["best_epoch"] = int(best_checkpoint["epoch"]) + 1
        metrics["stopped_early"] = bool(early is not None and early.stopped_epoch > 0)  # else: the epoch cap
        metrics["global_step"] = int(trainer.global_step)
        metrics["resumed_from"] = resumed_from  # epochs done before this process, on --resume
        metrics["devices"] = devices
        metrics["vector_coverage"] = vector_coverage(built.model)
        write_run_report(run_dir, task, built, config, metrics, monitor, run_dir / LOG)
        metrics["machine"] = machine()
        write_text_atomic(run_dir / "metrics.json", json.dumps(metrics, indent=1) + "\n")  # last: the run is finished
        summary = ", ".join(
            f"{k} {task.MONITOR} {metrics[k][task.MONITOR]:.2f}" for k in ("dev", "test") if k in metrics
        )
        ended = "stopped early" if metrics["stopped_early"] else f"at its epoch cap of {metrics['epochs']}"
        log.info("finished %s (%s): %s", run_dir, ended, summary)
        return metrics

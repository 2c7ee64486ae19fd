"""The training loop: streamed batches, sampled softmax, checkpoints, exact resume, DDP, export.

A plain PyTorch loop rather than Lightning: bilm-tf trains on endless token streams with the
LSTM state carried from batch to batch, and an exact resume after a kill needs that state, the
stream position and every process's RNG in the checkpoint; Lightning has no hook for resuming an
iterable stream mid-epoch. What is not ours: DDP (``torch.nn.parallel``, launched by torchrun
or ``--devices``), the optimisers, autocast (bf16), tqdm (through :mod:`elmo_features.progress`). The run folder::

    run.json             the settings that must not change on --resume
    vocab.txt            the softmax vocabulary (bilm-tf format)
    checkpoints/last.pt  model, optimiser, step, stream position, LSTM states and RNGs of all ranks
    metrics.json / .csv  per epoch: train and held-out perplexity (forward, backward, average), tok/s
    options.json + weights.hdf5   the exported biLM (official ELMo format), written at the end
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import distributed as dist

from elmo_features.atomic import atomic_path, write_csv_atomic, write_text_atomic
from elmo_features.distributed import gather
from elmo_features.errors import ElmoError
from elmo_features.options import BiLMOptions
from elmo_features.pretrain.corpus import Batch, Batcher, count_corpus, sentence_stream
from elmo_features.pretrain.export import export, load_official
from elmo_features.pretrain.lm import BidirectionalLM, State
from elmo_features.pretrain.vocab import Vocabulary
from elmo_features.progress import Progress
from elmo_features.weights import read_weights

CHECKPOINT = "checkpoints/last.pt"
# Settings that define a run; --resume refuses to continue a run when any of them changed.
FIXED = (
    "options",
    "vocab",
    "texts",
    "train_tokens",
    "batch_size",
    "unroll",
    "optimizer",
    "lr",
    "seed",
    "devices",
    "max_tokens",
    "tokenize",
    "dropout",
    "n_samples",
    "init_from",
)


@dataclass
class PretrainConfig:
    texts: list[str]
    out_dir: str
    options: dict
    init_from: list[str] | None = None  # (options, weights) to start from
    vocab_size: int = 50_000
    vocab_file: str | None = None
    heldout: str | None = None
    epochs: int = 10
    max_steps: int | None = None
    max_time: float | None = None  # minutes
    batch_size: int = 64
    unroll: int = 20
    lr: float = 0.2
    optimizer: str = "adagrad"
    precision: str = "32"
    devices: int = 1
    seed: int = 0
    resume: bool = False
    tokenize: bool = False
    max_tokens: int = 200
    dropout: float = 0.1
    n_samples: int = 8192
    clip_norm: float = 10.0
    checkpoint_every: int = 500
    buffer_size: int = 10_000
    progress: bool = True


# ---------------------------------------------------------------------- setup
def _run_record(cfg: PretrainConfig, vocab: Vocabulary, train_tokens: int) -> dict:
    record = {k: v for k, v in asdict(cfg).items() if k in FIXED}
    record.update(
        vocab=vocab.fingerprint(), train_tokens=train_tokens, texts=[str(Path(t).resolve()) for t in cfg.texts]
    )
    if cfg.init_from:
        record["init_from"] = [str(Path(p).resolve()) for p in cfg.init_from]
    return record


def _check_resume(out: Path, record: dict) -> None:
    run_file = out / "run.json"
    if not (out / CHECKPOINT).is_file() or not run_file.is_file():
        raise ElmoError(f"cannot resume: no checkpoint at {out / CHECKPOINT} (train without --resume first)")
    before = json.loads(run_file.read_text(encoding="utf-8"))
    for key in FIXED:
        if before.get(key) != record.get(key):
            what = "the vocabulary (corpus or --vocab-size/--vocab)" if key == "vocab" else f"{key!r}"
            raise ElmoError(f"cannot resume {out}: {what} differs from the run's run.json (was {before.get(key)!r})")


def prepare(cfg: PretrainConfig) -> tuple[BiLMOptions, Vocabulary, int, dict]:
    """Check the inputs and the run folder; (options, vocabulary, train tokens, run record)."""
    if cfg.optimizer not in ("adagrad", "adam"):
        raise ElmoError(f"--optimizer must be adagrad or adam, got {cfg.optimizer!r}")
    if cfg.precision not in ("32", "bf16"):
        raise ElmoError(f"--precision must be 32 or bf16, got {cfg.precision!r}")
    for name in ("batch_size", "unroll", "epochs", "max_tokens", "devices", "checkpoint_every"):
        if getattr(cfg, name) < 1:
            raise ElmoError(f"--{name.replace('_', '-')} must be at least 1")
    options = BiLMOptions.from_dict(cfg.options, "options")
    stats = count_corpus(cfg.texts, cfg.max_tokens, cfg.tokenize)
    stats.check(cfg.texts, cfg.max_tokens)
    if cfg.heldout:
        count_corpus([cfg.heldout], cfg.max_tokens, cfg.tokenize).check([cfg.heldout], cfg.max_tokens, "held-out text")
    vocab = Vocabulary.load(cfg.vocab_file) if cfg.vocab_file else Vocabulary.from_counts(stats.counts, cfg.vocab_size)
    record = _run_record(cfg, vocab, stats.tokens)
    out = Path(cfg.out_dir)
    if cfg.resume:
        _check_resume(out, record)
    elif (out / CHECKPOINT).exists():  # a run killed before its first checkpoint just starts over
        raise ElmoError(f"{out} already holds a pretraining run (use --resume to continue it, or a new -o)")
    return options, vocab, stats.tokens, record


# ---------------------------------------------------------------------- helpers
def _autocast(cfg: PretrainConfig, device: torch.device):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")


def _save_atomic(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _all_sum(values: list[float], world: int) -> list[float]:
    if world == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def _ppl(loss_sum: float, tokens: float) -> float:
    return math.exp(min(loss_sum / max(tokens, 1.0), 50.0))


@torch.no_grad()
def evaluate(model: BidirectionalLM, cfg: PretrainConfig, vocab: Vocabulary) -> dict[str, float]:
    """Held-out perplexity with the full softmax, the LSTM state carried across batches."""
    was_training = model.training
    model.eval()
    device = model.bias[0].device
    stream = sentence_stream([cfg.heldout], cfg.max_tokens, cfg.tokenize, seed=None, repeat=False)
    state = model.zero_state(cfg.batch_size)
    sums = [0.0, 0.0, 0.0]
    with _autocast(cfg, device):
        for batch in Batcher(stream, vocab, cfg.batch_size, cfg.unroll):
            loss_f, loss_b, state = model(batch.to(device), state)
            sums = [sums[0] + float(loss_f), sums[1] + float(loss_b), sums[2] + batch.n_tokens]
    model.train(was_training)
    fwd, bwd = _ppl(sums[0], sums[2]), _ppl(sums[1], sums[2])
    return {"heldout_ppl_fwd": fwd, "heldout_ppl_bwd": bwd, "heldout_ppl": math.sqrt(fwd * bwd)}


def _load_softmax(model: BidirectionalLM, checkpoint: Path) -> None:
    """The softmax of a pretraining run's checkpoint (the official files do not hold one)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["model"]
    softmax = {k.removeprefix("softmax."): v for k, v in state.items() if k.startswith("softmax.")}
    rows = softmax["weight"].shape[0]
    if rows != model.softmax.vocab_size:
        raise ElmoError(
            f"--init-from {checkpoint.parent.parent}: its softmax has {rows:,} words, the vocabulary here "
            f"{model.softmax.vocab_size:,} (use its vocab.txt, the default)"
        )
    model.softmax.load_state_dict(softmax)


def make_optimizer(model: BidirectionalLM, cfg: PretrainConfig) -> torch.optim.Optimizer:
    """Adagrad (bilm-tf's choice; accumulators start at 1.0) or Adam."""
    if cfg.optimizer == "adagrad":
        return torch.optim.Adagrad(model.parameters(), lr=cfg.lr, initial_accumulator_value=1.0)
    return torch.optim.Adam(model.parameters(), lr=cfg.lr)


def train_step(runner, optimizer: torch.optim.Optimizer, batch: Batch, state: State, cfg: PretrainConfig):
    """One optimiser step on the mean of the two directions' losses; (summed losses f, b, next state)."""
    device = batch.fwd_targets.device
    with _autocast(cfg, device):
        loss_f, loss_b, state = runner(batch, state)
    loss = 0.5 * (loss_f + loss_b) / max(batch.n_tokens, 1)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    torch.nn.utils.clip_grad_norm_(params, cfg.clip_norm)
    optimizer.step()
    return loss_f.detach(), loss_b.detach(), state


def _write_metrics(out: Path, rows: list[dict]) -> None:
    write_text_atomic(out / "metrics.json", json.dumps(rows, indent=1) + "\n")
    write_csv_atomic(out / "metrics.csv", rows)


# ---------------------------------------------------------------------- entry points
def pretrain(cfg: PretrainConfig) -> dict:
    """Train (or resume) a biLM into ``cfg.out_dir`` and export it; the last metrics row.

    Runs as one process, as one rank of a torchrun launch (``WORLD_SIZE`` set), or spawns
    ``cfg.devices`` processes itself.
    """
    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if cfg.devices > 1 and not launched:
        prepare(cfg)  # one-line errors before any process starts
        import torch.multiprocessing as mp

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        mp.spawn(_spawned, args=(cfg,), nprocs=cfg.devices, join=True)
        rows = json.loads((Path(cfg.out_dir) / "metrics.json").read_text(encoding="utf-8"))
        return rows[-1] if rows else {}
    return _deterministic(_worker, cfg)


def _spawned(rank: int, cfg: PretrainConfig) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(cfg.devices))
    _deterministic(_worker, cfg)


def _deterministic(work, cfg: PretrainConfig):
    """``work(cfg)`` with PyTorch's deterministic kernels: without them, CPU threads summing in
    a different order on a busy machine made two 1,000-step runs of one seed differ by 0.2."""
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        return work(cfg)
    finally:
        torch.use_deterministic_algorithms(previous)


def _worker(cfg: PretrainConfig) -> dict:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1 and world != cfg.devices:
        raise ElmoError(f"launched with {world} processes but --devices is {cfg.devices}; give --devices {world}")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    try:
        return _train(cfg, rank, world)
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()


@dataclass
class _Run:
    """One process's training run: where it stands, and what it trains."""

    cfg: PretrainConfig
    rank: int
    world: int
    out: Path
    device: torch.device
    vocab: Vocabulary
    model: BidirectionalLM
    runner: torch.nn.Module  # the model, or its DDP wrapper
    optimizer: torch.optim.Optimizer
    steps_per_epoch: int
    total: int
    step: int = 0
    local: dict | None = None  # this rank's part of the checkpoint resumed from (LSTM states, sums, RNG)
    rows: list[dict] | None = None
    stop: bool = False

    @property
    def tokens_per_step(self) -> int:
        return self.cfg.batch_size * self.cfg.unroll * self.world

    def checkpoint(self, epoch_sums: list[float], state: State) -> None:
        """Every rank's RNG, LSTM states and loss sums, with the model and optimiser, into last.pt."""
        mine = {
            "rng": torch.get_rng_state(),
            "lstm": [(h.float().cpu(), c.float().cpu()) for h, c in state],
            "sums": epoch_sums,
        }
        ranks = gather(mine)
        if self.rank == 0:
            data = {
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "step": self.step,
                "ranks": ranks,
            }  # fmt: skip
            _save_atomic(data, self.out / CHECKPOINT)


def _start(cfg: PretrainConfig, rank: int, world: int) -> _Run:
    """Check the inputs, write the run folder's first files, build the model and optimiser, and
    load the checkpoint on --resume."""
    options, vocab, train_tokens, record = prepare(cfg)
    out = Path(cfg.out_dir)
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
    if world > 1:
        dist.barrier()  # every rank has checked the run folder before rank 0 writes to it
    if rank == 0 and not cfg.resume:
        out.mkdir(parents=True, exist_ok=True)
        vocab.save(out / "vocab.txt")
        write_text_atomic(out / "run.json", json.dumps(record, indent=1) + "\n")

    torch.manual_seed(cfg.seed)
    model = BidirectionalLM(options, len(vocab), cfg.dropout, cfg.n_samples)
    if cfg.init_from:
        load_official(model, read_weights(cfg.init_from[1], options, f"options {cfg.init_from[0]}"))
        if len(cfg.init_from) > 2:  # a pretraining run's checkpoint: its softmax too
            _load_softmax(model, Path(cfg.init_from[2]))
    model.to(device).train()
    optimizer = make_optimizer(model, cfg)
    runner = model
    if world > 1:
        runner = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    steps_per_epoch = max(1, math.ceil(train_tokens / (cfg.batch_size * cfg.unroll * world)))
    total = cfg.epochs * steps_per_epoch if cfg.max_steps is None else min(cfg.epochs * steps_per_epoch, cfg.max_steps)
    run = _Run(cfg, rank, world, out, device, vocab, model, runner, optimizer, steps_per_epoch, total, rows=[])
    if cfg.resume:
        ckpt = torch.load(out / CHECKPOINT, map_location=device, weights_only=True)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        run.step, run.local = ckpt["step"], ckpt["ranks"][rank]
        torch.set_rng_state(run.local["rng"])
        if (out / "metrics.json").is_file():
            rows = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
            run.rows = [r for r in rows if r["step"] <= run.step]
    else:
        torch.manual_seed(cfg.seed * 1000 + rank + 1)  # dropout and sampling differ across ranks
        if cfg.heldout and rank == 0:
            run.rows.append({"epoch": 0, "step": 0, **evaluate(model, cfg, vocab)})
            _write_metrics(out, run.rows)
    return run


def _epoch(run: _Run, start_time: float, bar: Progress) -> dict:
    """Train to the end of the current epoch (or of the run, or of the time limit); the epoch's row."""
    cfg, device = run.cfg, run.device
    epoch, done_in_epoch = divmod(run.step, run.steps_per_epoch)
    stream = sentence_stream(
        cfg.texts, cfg.max_tokens, cfg.tokenize, f"{cfg.seed}/{epoch}", run.rank, run.world, cfg.buffer_size
    )
    batches = Batcher(stream, run.vocab, cfg.batch_size, cfg.unroll)
    for _ in range(done_in_epoch):  # resume: replay the stream up to the checkpoint
        next(batches)
    if run.local is not None and done_in_epoch:
        state = [(h.to(device), c.to(device)) for h, c in run.local["lstm"]]
        sums = list(run.local["sums"])
    else:
        state, sums = run.model.zero_state(cfg.batch_size), [0.0, 0.0, 0.0]
    run.local = None
    epoch_start, epoch_steps = time.monotonic(), 0
    while done_in_epoch < run.steps_per_epoch and run.step < run.total:
        batch = next(batches).to(device)
        loss_f, loss_b, state = train_step(run.runner, run.optimizer, batch, state, cfg)
        run.step, done_in_epoch, epoch_steps = run.step + 1, done_in_epoch + 1, epoch_steps + 1
        sums = [sums[0] + loss_f.item(), sums[1] + loss_b.item(), sums[2] + batch.n_tokens]
        if cfg.max_time is not None:
            late = torch.tensor([time.monotonic() - start_time > 60 * cfg.max_time], dtype=torch.float32)
            if run.world > 1:
                dist.all_reduce(late)
            run.stop = bool(late.item())
        if bar.enabled:
            _show(bar, run, epoch, sums, epoch_steps, epoch_start, start_time)
        end_of_epoch = done_in_epoch == run.steps_per_epoch
        if run.step % cfg.checkpoint_every == 0 or end_of_epoch or run.step == run.total or run.stop:
            run.checkpoint(sums, state)
        if run.stop:
            break
    seconds = time.monotonic() - epoch_start
    total_sums = _all_sum(sums, run.world)
    return {
        "epoch": epoch + 1,
        "step": run.step,
        "epoch_fraction": round(done_in_epoch / run.steps_per_epoch, 4),
        "train_ppl_fwd": _ppl(total_sums[0], total_sums[2]),
        "train_ppl_bwd": _ppl(total_sums[1], total_sums[2]),
        "train_ppl": _ppl(total_sums[0] + total_sums[1], 2 * total_sums[2]),
        "tokens_per_s": round(epoch_steps * run.tokens_per_step / max(seconds, 1e-9), 1),
    }


def _show(
    bar: Progress, run: _Run, epoch: int, sums: list[float], epoch_steps: int, epoch_start: float, start: float
) -> None:
    """Advance the progress bar: epoch, running perplexity, tokens/s (and the ETA of a time-limited run)."""
    elapsed = max(time.monotonic() - epoch_start, 1e-9)
    bar.set_postfix(
        epoch=epoch + 1,
        ppl=f"{_ppl(sums[0] + sums[1], 2 * sums[2]):.1f}",
        **{"tok/s": f"{epoch_steps * run.tokens_per_step / elapsed:.0f}"},
    )
    if run.cfg.max_time is not None and epoch_steps >= 3:
        left = 60 * run.cfg.max_time - (time.monotonic() - start)
        bar.set_total(min(run.total, run.step + max(0, int(left * epoch_steps / elapsed))))
    bar.update()


def _train(cfg: PretrainConfig, rank: int, world: int) -> dict:
    run = _start(cfg, rank, world)
    shown = rank == 0 and cfg.progress and run.step < run.total
    start_time = time.monotonic()
    with Progress("pretrain", run.total, "step", initial=run.step, enabled=shown) as bar:
        while run.step < run.total and not run.stop:
            row = _epoch(run, start_time, bar)
            if rank == 0:
                if cfg.heldout:
                    row.update(evaluate(run.model, cfg, run.vocab))
                run.rows.append(row)
                _write_metrics(run.out, run.rows)
                bar.write(" ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
            if world > 1:
                dist.barrier()
    if rank == 0:
        export(run.model, run.out)
    if world > 1:
        dist.barrier()
    return run.rows[-1] if run.rows else {}

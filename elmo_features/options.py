"""The biLM options JSON (the official bilm-tf / allennlp format), validated."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from elmo_features.errors import ElmoError

ACTIVATIONS = ("relu", "tanh")


@dataclass(frozen=True)
class BiLMOptions:
    char_dim: int
    filters: tuple[tuple[int, int], ...]  # (width, count)
    n_highway: int
    activation: str
    n_characters: int
    max_characters_per_token: int
    projection_dim: int
    cell_dim: int
    n_layers: int
    cell_clip: float | None
    proj_clip: float | None
    use_skip_connections: bool

    @property
    def n_filters(self) -> int:
        return sum(count for _, count in self.filters)

    @property
    def output_dim(self) -> int:
        return 2 * self.projection_dim

    @classmethod
    def from_dict(cls, raw: dict, source: str = "options") -> BiLMOptions:
        try:
            cnn, lstm = raw["char_cnn"], raw["lstm"]
            options = cls(
                char_dim=int(cnn["embedding"]["dim"]),
                filters=tuple((int(w), int(n)) for w, n in cnn["filters"]),
                n_highway=int(cnn.get("n_highway", 0)),
                activation=str(cnn.get("activation", "relu")),
                n_characters=int(cnn.get("n_characters", 262)),
                max_characters_per_token=int(cnn.get("max_characters_per_token", 50)),
                projection_dim=int(lstm["projection_dim"]),
                cell_dim=int(lstm["dim"]),
                n_layers=int(lstm.get("n_layers", 2)),
                cell_clip=float(lstm["cell_clip"]) if lstm.get("cell_clip") else None,
                proj_clip=float(lstm["proj_clip"]) if lstm.get("proj_clip") else None,
                use_skip_connections=bool(lstm.get("use_skip_connections", True)),
            )
        except KeyError as err:
            raise ElmoError(f"{source}: missing key {err.args[0]!r}") from None
        except (TypeError, ValueError) as err:
            raise ElmoError(f"{source}: malformed value ({err})") from None
        if options.activation not in ACTIVATIONS:
            raise ElmoError(f"{source}: unknown activation {options.activation!r} (valid: {', '.join(ACTIVATIONS)})")
        if options.max_characters_per_token != 50 or options.n_characters not in (261, 262):
            raise ElmoError(f"{source}: only 50 characters per token and 261/262 symbols are supported")
        return options

    @classmethod
    def load(cls, path: str | Path) -> BiLMOptions:
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ElmoError(f"options file not found: {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ElmoError(f"options file {path} is not valid JSON: {err}") from None
        if not isinstance(raw, dict):
            raise ElmoError(f"options file {path} must hold a JSON object")
        return cls.from_dict(raw, str(path))

    def to_dict(self) -> dict:
        return {
            "char_cnn": {
                "activation": self.activation,
                "embedding": {"dim": self.char_dim},
                "filters": [list(f) for f in self.filters],
                "max_characters_per_token": self.max_characters_per_token,
                "n_characters": self.n_characters,
                "n_highway": self.n_highway,
            },
            "lstm": {
                "cell_clip": self.cell_clip or 0,
                "dim": self.cell_dim,
                "n_layers": self.n_layers,
                "proj_clip": self.proj_clip or 0,
                "projection_dim": self.projection_dim,
                "use_skip_connections": self.use_skip_connections,
            },
        }

"""Sweep grids: a base config and axes of dotted config keys, expanded into cells.

A grid has *product* axes (every combination), *zip* groups (axes that vary together,
lists of equal length) and *seeds* (innermost). Axes are dotted config keys::

    grid = {"product": {"student.m": [16, 64], "student.alpha": [1.0, 8.0]},
            "zip": {"integrator.dt": [0.01, 0.001], "t_end": [1.0, 10.0]},
            "seeds": [0, 1, 2]}

gives 2 x 2 x 2 x 3 = 24 cells. ``zip`` may also be a list of such tables (several
groups, combined by product) and ``seeds`` an integer n (seeds 0..n-1). A cell's id is a
hash of its config's non-default fields, so a rerun of the same sweep (or of an extended
one) finds its cells again.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .config import Config, ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class Grid:
    """Product axes (name -> values), zip groups (each name -> values, equal lengths)
    and seeds (None: the base config's seed)."""

    product: tuple[tuple[str, tuple], ...]
    zips: tuple[tuple[tuple[str, tuple], ...], ...]
    seeds: tuple[int, ...] | None

    @property
    def axes(self) -> list[str]:
        """Axis names in grid order, "seed" last."""
        return [n for n, _ in self.product] + [n for g in self.zips for n, _ in g] + ["seed"]

    @property
    def groups(self) -> list[list[str]]:
        """Axes that vary together: one group per product axis, one per zip group."""
        return [[n] for n, _ in self.product] + [[n for n, _ in g] for g in self.zips]

    def to_dict(self) -> dict:
        """The grid as plain JSON/TOML data (the format :func:`parse_grid` reads)."""
        data: dict[str, Any] = {"product": {n: list(v) for n, v in self.product},
                "zip": [{n: list(v) for n, v in g} for g in self.zips]}
        if self.seeds is not None:
            data["seeds"] = list(self.seeds)
        return data


@dataclass(frozen=True)
class Cell:
    """One grid point: its id (config hash), axis values (with "seed") and config."""

    id: str
    values: MappingProxyType
    config: Config

    def label(self) -> str:
        """The axis values on one line, e.g. ``student.m=16 seed=0``."""
        return " ".join(f"{k}={v}" for k, v in self.values.items())


def _flatten(table, prefix: str, where: str) -> list[tuple[str, tuple]]:
    """Nested TOML tables (``student.m = [..]`` parses as {"student": {"m": [..]}}) to
    dotted axis names."""
    if not isinstance(table, dict):
        raise ConfigError(where, "must be a table of axis = [values]")
    axes = []
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            axes += _flatten(value, name + ".", where)
        elif isinstance(value, list) and value:
            if any(isinstance(v, (dict, list)) for v in value):
                raise ConfigError(f"{where}.{name}", "values must be numbers, strings or "
                                                     "booleans")
            axes.append((name, tuple(value)))
        else:
            raise ConfigError(f"{where}.{name}", f"must be a non-empty list, got {value!r}")
    return axes


def parse_grid(data) -> Grid:
    """A :class:`Grid` from a dict with keys product, zip, seeds (see the module doc);
    raises ConfigError naming the bad entry."""
    if isinstance(data, Grid):
        return data
    if not isinstance(data, dict):
        raise ConfigError("grid", "must be a table with product, zip and/or seeds")
    for key in data:
        if key not in ("product", "zip", "seeds"):
            raise ConfigError(f"grid.{key}", "unknown key (use product, zip, seeds)")
    product = _flatten(data.get("product", {}), "", "grid.product")
    zip_data = data.get("zip", [])
    zip_tables = zip_data if isinstance(zip_data, list) else [zip_data]
    zips = []
    for k, table in enumerate(zip_tables):
        where = "grid.zip" if isinstance(zip_data, dict) else f"grid.zip[{k}]"
        group = _flatten(table, "", where)
        lengths = {len(values) for _, values in group}
        if len(lengths) > 1:
            raise ConfigError(where, "zipped axes need lists of one length, got "
                              + ", ".join(f"{n}: {len(v)}" for n, v in group))
        if group:
            zips.append(tuple(group))
    seeds = data.get("seeds")
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ConfigError("grid.seeds", f"must be a positive count or a list, got {seeds}")
        seeds = list(range(seeds))
    if seeds is not None:
        if not isinstance(seeds, list) or not seeds or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
            raise ConfigError("grid.seeds", f"must be a count or a list of non-negative "
                                            f"integers, got {seeds!r}")
        if len(set(seeds)) != len(seeds):
            raise ConfigError("grid.seeds", f"repeated seeds in {seeds}")
        seeds = tuple(seeds)
    grid = Grid(tuple(product), tuple(zips), seeds)
    names = grid.axes
    for name in names[:-1]:
        if name == "seed":
            raise ConfigError("grid", "seed is not an axis; list seeds in grid.seeds")
        if names.count(name) > 1:
            raise ConfigError("grid", f"axis {name} appears twice")
    return grid


def cell_id(config: Config) -> str:
    """A stable 16-hex-digit hash of the fields that differ from Config() (sorted-key
    JSON), so a field added to Config later, at its default, keeps existing ids."""
    text = json.dumps(_non_default(config.to_dict(), Config().to_dict()), sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _non_default(data: dict, default: dict) -> dict:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(default.get(key), dict):
            value = _non_default(value, default[key])
            if value:
                out[key] = value
        elif key not in default or value != default[key]:
            out[key] = value
    return out


def _set(data: dict, name: str, value) -> None:
    node, parts = data, name.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(name, f"{part} is not a table")
        node = child
    node[parts[-1]] = value


def expand(base: Config, grid) -> list[Cell]:
    """The grid's cells in order (product axes, then zip groups, seeds innermost); raises
    ConfigError naming the field and the cell when a cell's config is invalid."""
    grid = parse_grid(grid)
    seeds = grid.seeds if grid.seeds is not None else (base.seed,)
    choices = [values for _, values in grid.product]
    choices += [range(len(group[0][1])) for group in grid.zips]
    cells: list[Cell] = []
    seen: dict[str, str] = {}
    for point in itertools.product(*choices, seeds):
        values = dict(zip([n for n, _ in grid.product], point, strict=False))
        for group, index in zip(grid.zips, point[len(grid.product):-1], strict=False):
            values.update({name: vals[index] for name, vals in group})
        values["seed"] = point[-1]
        data = base.to_dict()
        for name, value in values.items():
            _set(data, name, value)
        label = " ".join(f"{k}={v}" for k, v in values.items())
        try:
            config = Config.from_dict(data)
        except ConfigError as err:
            raise ConfigError(err.field, f"{str(err).split(': ', 1)[1]} (cell {label})") \
                from None
        cid = cell_id(config)
        if cid in seen:
            raise ConfigError("grid", f"cells {seen[cid]} and {label} have the same config")
        seen[cid] = label
        cells.append(Cell(cid, MappingProxyType(values), config))
    return cells


def load_sweep(path) -> tuple[Config, Grid]:
    """Read a SWEEP.toml: ``base`` (a table, or a path to a config file relative to the
    sweep file) and ``grid``; raises ConfigError with one line on bad input."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError("sweep", f"cannot read {path}: {err.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError("sweep", f"invalid TOML in {path}: {err}") from None
    for key in data:
        if key not in ("base", "grid"):
            raise ConfigError(key, f"unknown key in {path.name} (use [base] and [grid])")
    if "grid" not in data:
        raise ConfigError("grid", f"{path.name} has no [grid] table")
    base = data.get("base", {})
    if isinstance(base, str):
        base = Config.load(path.parent / base)
    elif isinstance(base, dict):
        base = Config.from_dict(base)
    else:
        raise ConfigError("base", "must be a table or the path of a config file")
    return base, parse_grid(data["grid"])

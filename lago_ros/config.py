# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
One config layer for every settings dataclass: YAML mappings in, typed dataclasses out, and back.

Settings dataclasses (PPOConfig, GuidanceConfig, TrainConfig, PriorConfig, BCConfig) document each
field with a docstring under it and may name the allowed values of a field with `choices(...)`.

- `build(cls, data)` checks keys, value types and choices, then constructs the dataclass (whose
  `__post_init__` checks the rest); every problem is one ConfigError line naming the key.
- `to_dict(obj)` is the YAML-safe inverse, `load_yaml`/`apply_override` read files and dotted
  `key=value` overrides.
- `flat_fields(cls)` lists every leaf as a dotted name with its type, default, docstring and
  choices: the trainer node declares its ROS parameters from it and hands the typed values back
  to `build` (`unflatten`), so a value is never printed to text to be parsed again.

A nested dataclass is a section named after its field. With `section(name)` metadata two nested
dataclasses share one section (TrainConfig reads PPOConfig and GuidanceConfig from `ppo:`), and
`hidden` keys are set by the parent instead of the file (ppo.seed comes from the top-level seed).
"""

import ast
import dataclasses
import inspect
import math
import textwrap
import types
import typing
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import yaml


class ConfigError(ValueError):
    """A config or override that names an unknown key or has a value of the wrong type."""


def choices(*values: Any) -> Dict[str, Any]:
    """Field metadata listing a field's allowed values: `field(default=..., metadata=...)`."""
    return {'choices': tuple(values)}


def section(name: str, hidden: Sequence[str] = ()) -> Dict[str, Any]:
    """Field metadata: read this nested dataclass from section `name`, without keys `hidden`."""
    return {'section': name, 'hidden': tuple(hidden)}


class Leaf(NamedTuple):
    """One settable value of a config tree."""

    name: str
    """dotted name, e.g. ppo.beta"""
    hint: Any
    """type annotation of the field"""
    default: Any
    """default value (None for Optional fields left unset)"""
    doc: str
    """the docstring under the field, on one line"""
    choices: Tuple[Any, ...]
    """allowed values, empty when any value of the type is allowed"""


def field_docs(cls: type) -> Dict[str, str]:
    """Map each field of dataclass `cls` to the docstring under it, on one line."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs = {}
    for node, following in zip(body, body[1:], strict=False):
        if isinstance(node, ast.AnnAssign) and isinstance(following, ast.Expr) \
                and isinstance(following.value, ast.Constant):
            docs[node.target.id] = ' '.join(str(following.value.value).split())
    return docs


def _nested(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    raise TypeError(f'config field {field.name} needs a default')


def _layout(cls: type) -> Tuple[Dict[str, Any], Dict[str, List[Tuple[str, type, tuple]]]]:
    """Scalar fields {name: hint} and sections {section: [(field, dataclass, hidden keys)]}."""
    hints = typing.get_type_hints(cls)
    scalars, sections = {}, {}
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if _nested(hint):
            name = field.metadata.get('section', field.name)
            sections.setdefault(name, []).append((field.name, hint,
                                                  field.metadata.get('hidden', ())))
        else:
            scalars[field.name] = hint
    return scalars, sections


def _section_keys(members: List[Tuple[str, type, tuple]]) -> List[List[str]]:
    """Return the keys each member of a section reads; a key read by two is a bug."""
    keys, seen = [], set()
    for _, cls, hidden in members:
        scalars, sections = _layout(cls)
        own = [k for k in list(scalars) + list(sections) if k not in hidden]
        clash = seen.intersection(own)
        if clash:
            raise TypeError(f'config section fields {sorted(clash)} are defined twice')
        seen.update(own)
        keys.append(own)
    return keys


def _check_mapping(data: Any, prefix: str, valid: Sequence[str]) -> None:
    where = prefix.rstrip('.') or 'the config'
    if not isinstance(data, dict):
        raise ConfigError(f'{where} must be a mapping, got {data!r}')
    odd = [key for key in data if not isinstance(key, str)]
    if odd:
        raise ConfigError(f'{where} has non-text keys {odd}; expected field names: '
                          f'{", ".join(prefix + k for k in valid)}')
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ConfigError(f'unknown config key(s) {[prefix + k for k in unknown]}; valid keys: '
                          f'{", ".join(prefix + k for k in valid)}')


def coerce(key: str, value: Any, hint: Any, allowed: Sequence[Any] = ()) -> Any:
    """Check/convert one value for a field annotated `hint`; raise ConfigError if it can't."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return coerce(key, value, next(a for a in args if a is not type(None)), allowed)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f'{key} must be a list, got {value!r}')
        items = [coerce(f'{key}[{i}]', v, args[0]) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f'{key} must be true or false, got {value!r}')
    elif hint in (int, float):
        number = value
        if isinstance(value, str):  # YAML 1.1 reads '3e-4' as a string
            try:
                number = float(value)
            except ValueError:
                number = None
        if isinstance(number, bool) or not isinstance(number, (int, float)) or (
                not math.isfinite(number)) or (hint is int and float(number) != int(number)):
            raise ConfigError(f'{key} must be {"an integer" if hint is int else "a number"}, '
                              f'got {value!r}')
        value = hint(number)
    elif hint is str and not isinstance(value, str):
        raise ConfigError(f'{key} must be a string, got {value!r}')
    if allowed and value not in allowed:
        raise ConfigError(f'{key} is {value!r}; expected one of {tuple(allowed)}')
    return value


def build(cls: type, data: Any, prefix: str = '') -> Any:
    """Construct dataclass `cls` from a mapping, checking keys, types and choices."""
    scalars, sections = _layout(cls)
    _check_mapping(data, prefix, list(scalars) + list(sections))
    fields = {field.name: field for field in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key in scalars:
            kwargs[key] = coerce(prefix + key, value, scalars[key],
                                 fields[key].metadata.get('choices', ()))
    for name, members in sections.items():
        if name not in data:
            continue
        keys = _section_keys(members)
        _check_mapping(data[name], f'{prefix}{name}.', [k for own in keys for k in own])
        for (field_name, member, _), own in zip(members, keys, strict=True):
            part = {k: v for k, v in data[name].items() if k in own}
            kwargs[field_name] = build(member, part, f'{prefix}{name}.')
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f'invalid config: {err}') from err


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def to_dict(obj: Any) -> Dict[str, Any]:
    """Return the YAML-safe mapping that `build(type(obj), ...)` reads back as `obj`."""
    scalars, sections = _layout(type(obj))
    owner = {field: (name, hidden) for name, members in sections.items()
             for field, _, hidden in members}
    data: Dict[str, Any] = {}
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        if field.name in scalars:
            data[field.name] = _plain(value)
        else:
            name, hidden = owner[field.name]
            part = {k: v for k, v in to_dict(value).items() if k not in hidden}
            data.setdefault(name, {}).update(part)
    return data


def flat_fields(cls: type, prefix: str = '') -> List[Leaf]:
    """Every leaf of config class `cls`, in field order, with dotted names."""
    hints, docs = typing.get_type_hints(cls), field_docs(cls)
    leaves = []
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if _nested(hint):
            name = field.metadata.get('section', field.name)
            hidden = {f'{prefix}{name}.{key}' for key in field.metadata.get('hidden', ())}
            leaves += [leaf for leaf in flat_fields(hint, f'{prefix}{name}.')
                       if leaf.name not in hidden]
        else:
            leaves.append(Leaf(prefix + field.name, hint, _default(field),
                               docs.get(field.name, ''), field.metadata.get('choices', ())))
    return leaves


def unflatten(values: Dict[str, Any]) -> Dict[str, Any]:
    """Turn {'ppo.beta': 0.1, 'seed': 1} into {'ppo': {'beta': 0.1}, 'seed': 1}."""
    data: Dict[str, Any] = {}
    for name, value in values.items():
        *path, key = name.split('.')
        node = data
        for part in path:
            node = node.setdefault(part, {})
        node[key] = value
    return data


def apply_override(data: Dict[str, Any], override: str) -> None:
    """Set a dotted `key=value` override in a nested config dict (value parsed as YAML)."""
    key, sep, text = override.partition('=')
    if not sep or not key.strip():
        raise ConfigError(f'override {override!r} must look like key=value, e.g. ppo.beta=0.1')
    parts = key.strip().split('.')
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f'override {override!r}: {part!r} is not a section')
    try:
        node[parts[-1]] = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f'override {override!r}: value is not valid YAML ({err})') from err


def load_yaml(path: Optional[Any], overrides: Sequence[str] = ()) -> Dict[str, Any]:
    """Read a YAML mapping (`path` None: empty) and apply dotted overrides to it."""
    data: Any = {}
    if path is not None:
        with open(path) as handle:
            try:
                data = yaml.safe_load(handle) or {}
            except yaml.YAMLError as err:
                raise ConfigError(f'{path} is not valid YAML: {" ".join(str(err).split())}'
                                  ) from err
        if not isinstance(data, dict):
            raise ConfigError(f'{path} must hold a mapping of config keys, got '
                              f'{type(data).__name__}')
    for override in overrides:
        apply_override(data, override)
    return data

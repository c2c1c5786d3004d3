"""The one-line errors every layer of ``agents`` raises and prints: a bad config value, an exception's first line."""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """A bad config value: ``<key>=<value>: <what is allowed>`` (the command prints it and exits with status 2).

    :param line: a message already in that form (from a library check, e.g. :mod:`plasticity.registry`): used as
        it is, ``key`` still names the key.
    """

    def __init__(self, key: str, value: Any, expected: str = "", *, line: str | None = None):
        self.key, self.value = key, value
        super().__init__(line if line is not None else f"{key}={value!r}: {expected}")

    @classmethod
    def from_line(cls, line: str) -> ConfigError:
        """From a ``<key>=<value>: <message>`` line (its key is the text before the first ``=``)."""
        return cls(line.partition("=")[0], None, line=line)


def first_line(err: BaseException) -> str:
    """An exception's message cut to its first line (its type's name when it has none): for one-line errors."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


# -- a pydantic validation error as one line --------------------------------------------------------------------
MESSAGES = {  # pydantic's error types → the project's wording
    "int_type": "must be an integer", "int_parsing": "must be an integer", "int_from_float": "must be an integer",
    "float_type": "must be a number", "float_parsing": "must be a number", "bool_type": "must be true or false",
    "bool_parsing": "must be true or false", "finite_number": "must be a finite number",
    "string_type": "must be a text", "list_type": "must be a list", "dict_type": "must be a mapping",
    "model_type": "must be a mapping", "model_attributes_type": "must be a mapping", "missing": "is required",
    "string_too_short": "must be a non-empty text",
}
BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def _members(node: Any) -> list[Any]:
    """The alternatives of an annotation (``Annotated`` unwrapped, ``None`` left out)."""
    import types
    import typing
    while typing.get_origin(node) is typing.Annotated:
        node = typing.get_args(node)[0]
    union = typing.get_origin(node) in (typing.Union, types.UnionType)
    out = []
    for m in (typing.get_args(node) if union else (node,)):
        while typing.get_origin(m) is typing.Annotated:
            m = typing.get_args(m)[0]
        if m is not type(None):
            out.append(m)
    return out


def _models(node: Any) -> list[Any]:
    from pydantic import BaseModel
    return [m for m in _members(node) if isinstance(m, type) and issubclass(m, BaseModel)]


def _tag(model: Any) -> Any:
    """The value of a model's discriminator field (``kind``, ``type``, ``name``), if it is a one-value literal."""
    import typing
    for name in ("kind", "type", "name"):
        field = model.model_fields.get(name)
        if field is not None and typing.get_origin(field.annotation) is typing.Literal:
            args = typing.get_args(field.annotation)
            if len(args) == 1:
                return args[0]
    return None


def locate(model: Any, loc: tuple) -> tuple[str, list[str]]:
    """Walk a pydantic error location under ``model``: the dotted key (``agent.network.hidden``, ``env.tasks[0]``)
    without the union tags and member names pydantic puts in it, and the keys of the model it ends in."""
    import typing
    key, node = "", model
    for part in loc:
        members = _members(node)
        models = _models(node)
        if isinstance(part, int):
            key += f"[{part}]"
            lists = [m for m in members if typing.get_origin(m) is list]
            node = typing.get_args(lists[0])[0] if lists else None
            continue
        tagged = [m for m in models if _tag(m) == part]
        if len(models) > 1 and tagged:  # a discriminated union's tag: not a key
            node = tagged[0]
            continue
        holder = next((m for m in models if part in m.model_fields), None)
        if holder is None:  # a member's type name (`int`, `list[int]`) or an unknown key
            if not models or part in ("int", "float", "str", "bool") or "[" in str(part):
                continue
            key += f".{part}" if key else str(part)
            node = None
            continue
        key += f".{part}" if key else str(part)
        node = holder.model_fields[part].annotation
    models = _models(node)
    return key, (list(models[0].model_fields) if len(models) == 1 else [])


def validation_line(err: Any, model: Any) -> ConfigError:
    """A pydantic ``ValidationError`` of ``model`` as a one-line :class:`ConfigError` (its first problem): the
    key's path, the value, what is allowed in the project's words (an unknown key lists the valid ones)."""
    first = err.errors(include_url=False)[0]
    kind, ctx, value = first["type"], first.get("ctx") or {}, first.get("input")
    key, _ = locate(model, tuple(first["loc"]))
    message = first["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        parent, valid = locate(model, tuple(first["loc"])[:-1])
        return ConfigError(key, value, f"unknown key; valid keys{' of ' + parent if parent else ''}: "
                                       f"{', '.join(valid)}" if valid else "unknown key")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        field = str(ctx.get("discriminator", "kind")).strip("'").rstrip("()").removeprefix("_").removesuffix("_of")
        choices = ", ".join(t.strip("'") for t in str(ctx.get("expected_tags", "")).split(", "))
        return ConfigError(f"{key}.{field}" if key else field, ctx.get("tag"), f"valid choices: {choices}")
    if kind in BOUNDS:
        bound = next(iter(ctx.values()))
        return ConfigError(key, value, f"must be {BOUNDS[kind]} {bound if isinstance(bound, int) else f'{bound:g}'}")
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace(" or ", ", ").split(", ")
        return ConfigError(key, value, "valid choices: " + ", ".join(e.strip("'") for e in expected))
    if kind in MESSAGES:
        return ConfigError(key, None if kind == "missing" else value, MESSAGES[kind])
    head = message.split(": ", 1)[0]
    if kind == "value_error" and "=" in head and " " not in head.partition("=")[0]:  # "<key>=<value>: why"
        sub = head.partition("=")[0]
        full = key + sub if sub.startswith("[") else f"{key}.{sub}" if key else sub
        return ConfigError(full, None, line=f"{full}={message.split('=', 1)[1]}")
    return ConfigError(key, value, message)

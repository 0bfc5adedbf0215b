"""``--checkpoint PATH`` or ``--model NAME``: the two ways a verb is given a trained model."""

from __future__ import annotations

import argparse
from typing import Any

#: Help of ``--model`` (one wording for every verb).
MODEL_HELP = (
    "a named model instead of --checkpoint: one shipped with echomark or found in a folder "
    "on ECHOMARK_MODEL_PATH (`echomark models` lists them); a model folder path works too"
)


def add_model_args(
    parser: argparse.ArgumentParser, *, required: bool, checkpoint_help: str
) -> None:
    """Add the mutually exclusive ``--checkpoint`` / ``--model`` pair to ``parser``."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--checkpoint", help=checkpoint_help)
    group.add_argument("--model", metavar="NAME", help=MODEL_HELP)


def model_path(args: Any) -> str | None:
    """The model file or folder the user gave (``--model`` resolved), or None.

    Raises:
        ConfigError: ``--model`` names no known model (the message lists the known ones).
    """
    name = getattr(args, "model", None)
    if name:
        from echomark.models.zoo import resolve_model

        return str(resolve_model(name))
    checkpoint = getattr(args, "checkpoint", None)
    return str(checkpoint) if checkpoint else None


def required_model_path(args: Any) -> str:
    """:func:`model_path` for a verb where one of the two is required.

    Raises:
        InputError: Neither was given (argparse normally says so first).
        ConfigError: ``--model`` names no known model.
    """
    from echomark.errors import InputError

    path = model_path(args)
    if path is None:
        raise InputError("give a model: --checkpoint PATH or --model NAME")
    return path

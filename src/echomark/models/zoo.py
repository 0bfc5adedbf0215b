"""Named models: model folders shipped with the package or found on ``ECHOMARK_MODEL_PATH``.

A named model is a model folder (``model.safetensors`` + ``model.json``, as ``echomark export
--model-dir`` writes it) whose folder name is its name. They are looked up in order in:

1. each folder listed in the environment variable ``ECHOMARK_MODEL_PATH``
   (``os.pathsep``-separated, like ``PATH``), so a user's own or fetched models can be named
   and can stand in for a shipped one;
2. the package's ``echomark/models/zoo/`` folder (models shipped with echomark).

The first folder holding ``<name>/model.json`` wins. ``echomark models`` lists them; ``--model
NAME`` on ``predict``, ``measure``, ``serve`` and ``train --init NAME`` use them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from echomark.errors import ConfigError
from echomark.models.modelfile import CARD_FILE, ModelCard, read_card

#: Environment variable listing extra model folders (``os.pathsep``-separated).
ENV_VAR = "ECHOMARK_MODEL_PATH"

#: What a model name looks like: a folder name without path parts or suffix tricks.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

#: File suffixes that make an argument a path, never a name.
_MODEL_SUFFIXES = (".pt", ".pth", ".onnx", ".safetensors", ".json")


@dataclass(frozen=True)
class ZooEntry:
    """One named model.

    Attributes:
        name: The model's name (its folder's name).
        path: The model folder.
        source: ``package`` (shipped with echomark) or the ``ECHOMARK_MODEL_PATH`` folder it
            was found in.
        card: The model card.
    """

    name: str
    path: Path
    source: str
    card: ModelCard

    @property
    def summary(self) -> str:
        """The card's one-line summary."""
        return self.card.summary()


def package_zoo() -> Path:
    """The folder of models shipped inside the package (it may hold none)."""
    return Path(str(resources.files("echomark.models") / "zoo"))


def zoo_roots() -> list[tuple[str, Path]]:
    """``(source, folder)`` pairs searched for models, in look-up order."""
    roots: list[tuple[str, Path]] = []
    for part in os.environ.get(ENV_VAR, "").split(os.pathsep):
        if part.strip():
            roots.append((part, Path(part).expanduser()))
    roots.append(("package", package_zoo()))
    return roots


def is_model_name(text: str) -> bool:
    """True when ``text`` reads as a model name rather than a path.

    >>> is_model_name("synthetic-v1"), is_model_name("runs/a/best.pt"), is_model_name("m.onnx")
    (True, False, False)
    """
    return bool(_NAME.match(text)) and not text.lower().endswith(_MODEL_SUFFIXES)


def _entries() -> dict[str, ZooEntry]:
    """Every named model, the first of each name in look-up order."""
    found: dict[str, ZooEntry] = {}
    for source, root in zoo_roots():
        if not root.is_dir():
            continue
        for folder in sorted(root.iterdir()):
            if folder.name in found or not _NAME.match(folder.name):
                continue
            if folder.is_dir() and (folder / CARD_FILE).is_file():
                found[folder.name] = ZooEntry(folder.name, folder, source, read_card(folder))
    return found


def list_models() -> list[ZooEntry]:
    """The named models, sorted by name (one per name: the first found wins).

    Raises:
        ConfigError: A model folder whose card cannot be read (named).
    """
    return [entry for _, entry in sorted(_entries().items())]


def model_names() -> list[str]:
    """The names :func:`resolve_model` knows, without reading their cards."""
    names: set[str] = set()
    for _, root in zoo_roots():
        if root.is_dir():
            names.update(
                f.name for f in root.iterdir() if _NAME.match(f.name) and (f / CARD_FILE).is_file()
            )
    return sorted(names)


def resolve_model(name_or_path: str | os.PathLike[str]) -> Path:
    """The model file or folder meant by ``name_or_path``.

    An existing path (a model folder, a checkpoint ``.pt``, an ``.onnx``) is returned as is; a
    bare name is looked up as :mod:`this module <echomark.models.zoo>` describes.

    Raises:
        ConfigError: An existing folder that is not a model folder; a path that does not
            exist; or a name no model folder has (the message lists the known names).
    """
    path = Path(name_or_path)
    text = os.fspath(name_or_path)
    if path.exists():
        if path.is_dir() and not (path / CARD_FILE).is_file():
            raise ConfigError(
                f"is a folder but not a model folder (no {CARD_FILE}); give a model folder "
                "written by `echomark export --model-dir`, a checkpoint or a model name",
                file=text,
            )
        return path
    if not is_model_name(text):
        raise ConfigError("model not found (no such file or folder)", file=text)
    for _, root in zoo_roots():
        folder = root / text
        if (folder / CARD_FILE).is_file():
            return folder
    names = model_names()
    known = ", ".join(names) if names else "none"
    raise ConfigError(
        f"no model named {text!r} (known models: {known}; `echomark models` lists them, "
        f"{ENV_VAR} adds folders of your own)"
    )

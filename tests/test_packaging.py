"""The installed layout matches the repository: every package folder is listed in setup.cfg, and
the mapped top-level folders (backends/, templates/, datasets/) import as promptlearn.* packages."""

from __future__ import annotations

import configparser
import importlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAPPED = {"promptlearn.backends": "backends", "promptlearn.templates": "templates", "promptlearn.datasets": "datasets"}


def _listed_packages() -> set[str]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return {line.strip() for line in cfg["options"]["packages"].splitlines() if line.strip()}


def _package_folders() -> set[str]:
    found = set()
    for init in (ROOT / "promptlearn").rglob("__init__.py"):
        found.add(".".join(init.parent.relative_to(ROOT).parts))
    for name, folder in MAPPED.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *rel)))
    return found


def test_every_package_folder_is_listed_in_setup_cfg():
    missing = _package_folders() - _listed_packages()
    assert not missing, f"add to [options] packages in setup.cfg: {sorted(missing)}"


def test_mapped_folders_import_under_promptlearn():
    for name, folder in MAPPED.items():
        module = importlib.import_module(name)
        assert Path(module.__file__).resolve().parent == (ROOT / folder).resolve()


def test_litellm_range_excludes_compromised_releases():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    requirement = next(line for line in cfg["options"]["install_requires"].splitlines() if line.strip().startswith("litellm"))
    from packaging.specifiers import SpecifierSet

    spec = SpecifierSet(requirement.strip()[len("litellm") :])
    assert "1.82.7" not in spec and "1.82.8" not in spec
    assert "1.106.2" in spec

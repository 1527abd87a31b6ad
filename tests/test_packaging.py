"""The installed layout matches the repository: every package folder is listed in setup.cfg, and
the mapped top-level folders (backends/, templates/, datasets/) import as promptlearn.* packages."""

from __future__ import annotations

import configparser
import importlib
import importlib.util
import os
from pathlib import Path

import pytest

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


# ---- a user install: no extras, every shipped module imports -------------------------------------------
IMPORT_EVERY_MODULE = r"""
import importlib, importlib.abc, pkgutil, sys
from pathlib import Path

class NoExtras(importlib.abc.MetaPathFinder):
    # the dev, vllm, ray and ui extras (pytest, pytest-timeout, vllm, ray, gradio) are not installed for a user
    blocked = ("pytest", "_pytest", "pytest_timeout", "vllm", "ray", "gradio", "gradio_client")
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (an extra, not installed)", name=name)
        return None

sys.meta_path.insert(0, NoExtras())
import promptlearn
root = Path(promptlearn.__file__).parent
assert root.is_relative_to(Path(sys.argv[1])), f"imported {root}, not the installed copy"
names = ["promptlearn"] + [m.name for m in pkgutil.walk_packages(promptlearn.__path__, "promptlearn.")]
for name in names:
    importlib.import_module(name)
print(len(names))
"""


@pytest.mark.slow
def test_an_install_without_extras_imports_every_shipped_module(tmp_path):
    """``pip install --no-deps`` of a copy of the source into a fresh venv whose dependencies come
    from this environment (a .pth file; offline), then import every module of the installed
    package with the extras (pytest, vllm, ray) made unimportable."""
    import shutil
    import site
    import subprocess
    import sys

    deps = [p for p in dict.fromkeys([*site.getsitepackages(), *sys.path]) if p.endswith(("site-packages", "dist-packages"))]
    # the build needs bdist_wheel (setuptools >= 70.1, or the wheel package): the folder with it goes first
    deps.sort(key=lambda p: not (Path(p, "setuptools", "command", "bdist_wheel.py").is_file() or Path(p, "wheel").is_dir()))
    if importlib.util.find_spec("pip") is None or importlib.util.find_spec("setuptools") is None:
        pytest.skip("pip and setuptools are needed to build the package")
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv", ".git", "tests", "bench", "docs", "runs", "reports", "build", "dist",
                                                               "*.egg-info", "__pycache__", ".pytest_cache", ".whl", ".gl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  check=True, capture_output=True, text=True).stdout.strip())
    (purelib / "_deps.pth").write_text("".join(f"{p}\n" for p in deps))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    install = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet", str(source)],
                             capture_output=True, text=True, env=env, cwd=tmp_path)
    assert install.returncode == 0, install.stderr[-2500:]
    # the recipes are data files (recipe.yaml beside their templates): they must ship
    assert {p.parent.name for p in (purelib / "promptlearn" / "templates" / "recipes").glob("*/recipe.yaml")} == {"paper", "promptlearn", "single"}
    imported = subprocess.run([str(python), "-c", IMPORT_EVERY_MODULE, str(purelib)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert imported.returncode == 0, imported.stderr[-3000:]
    assert int(imported.stdout.strip()) > 50


def test_no_import_cycle_between_the_llm_factory_and_the_backends():
    """The backends sit below the factory (promptlearn.llm.spec), the spec forms below both."""
    import subprocess
    import sys

    code = (
        "import sys, promptlearn.backends.litellm_backend, promptlearn.backends.transformers_backend, promptlearn.backends.vllm_backend;"
        "assert 'promptlearn.llm.spec' not in sys.modules, 'a backend imported the factory';"
        "import promptlearn.llm.spec;"
        "sys.modules.pop('promptlearn.llm.spec');"
        "[sys.modules.pop(m) for m in list(sys.modules) if m.startswith('promptlearn.backends')];"
        "import promptlearn.llm.spec;"
        "assert not [m for m in sys.modules if m.startswith('promptlearn.backends.')], 'the factory imported a backend at import time'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]

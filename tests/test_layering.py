"""The numpy core must import without torch."""

import subprocess
import sys

CORE = [
    "echomark.labels",
    "echomark.cache",
    "echomark.geometry",
    "echomark.heatmaps",
    "echomark.synth",
    "echomark.measure",
]


def test_numpy_core_imports_with_torch_blocked() -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('torch is blocked in the numpy core')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import importlib\n"
        "import pkgutil\n"
        f"for top in {CORE!r}:\n"
        "    pkg = importlib.import_module(top)\n"
        "    for info in pkgutil.walk_packages(pkg.__path__, top + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

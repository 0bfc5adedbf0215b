"""echomark.evaluate (metrics, report, runner) must work without torch."""

import subprocess
import sys


def test_evaluate_imports_with_torch_blocked() -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('torch is blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import importlib, pkgutil\n"
        "import echomark.evaluate as pkg\n"
        "for info in pkgutil.walk_packages(pkg.__path__, 'echomark.evaluate.'):\n"
        "    importlib.import_module(info.name)\n"
        "import echomark.cli.evaluate\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

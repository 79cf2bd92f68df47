"""Loading files a user did not write, safely: pickles only through a restricted unpickler.

A pickle can run any code when it is loaded. The published TaskWeb scores (and other research
tables) come as pickles, so taskmix reads them with an unpickler that admits plain containers,
strings, numbers and numpy arrays and refuses everything else with a clear error. Weights are read
as safetensors, ``torch.load`` only with ``weights_only=True``, YAML with ``safe_load``.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

from taskmix.errors import DataError

# what numpy needs to rebuild arrays and scalars (module names of numpy 1.x and 2.x)
ALLOWED = {
    (m, n)
    for m in ("numpy.core.multiarray", "numpy._core.multiarray")
    for n in ("_reconstruct", "scalar")
}
ALLOWED |= {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("builtins", "complex"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("collections", "OrderedDict"),
}


class _Restricted(pickle.Unpickler):
    def __init__(self, file, source: str):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str):
        if (module, name) in ALLOWED:
            return super().find_class(module, name)
        raise DataError(
            f"{self.source}: this pickle needs {module}.{name} to load, and taskmix only loads "
            "plain "
            "numbers, strings, lists, dicts and numpy arrays from pickles it did not write",
            hint="convert the file to CSV (e.g. with pandas, where you trust it) and give that "
            "instead",
        )


def safe_unpickle(path: str | Path) -> Any:
    """The object in a pickle of plain data (containers, numbers, strings, numpy arrays); any other
    class in it raises :class:`DataError` before it can run.

    >>> safe_unpickle("taskweb_scores.pkl")          # doctest: +SKIP
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e.strerror})") from None
    try:
        return _Restricted(io.BytesIO(data), str(path)).load()
    except DataError:
        raise
    except Exception as e:  # truncated or not a pickle at all
        raise DataError(f"{path}: not a readable pickle ({type(e).__name__}: {e})") from None

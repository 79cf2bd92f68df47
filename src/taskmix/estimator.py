"""The estimator contract every relater, grouper and searcher follows (scikit-learn's).

- ``__init__`` only stores its arguments, as given: no validation, no work.
- ``fit(...)`` validates, does the work and returns ``self``; the same signature within a family
  (relaters and groupers: ``fit(suite)``; similarities: ``fit(sources)``; surrogates: ``fit(X,
  y)``).
- What was learned ends in ``_`` (``groups_``, ``matrix_``, ``config_``: the settings in force).
- ``get_params()`` / ``set_params(**params)`` read and change the constructor's arguments.

An estimator configured by a pydantic model takes it as ``config`` plus keyword overrides of its
fields (``PVIGrouper(alpha=0.01)``), kept in ``params``; :meth:`Estimator.resolve` validates the
two into the config used by ``fit``.
"""

from __future__ import annotations

import inspect
from typing import Any

from pydantic import BaseModel, ValidationError

from taskmix.errors import ConfigError


class Estimator:
    """Base of taskmix's estimators: ``get_params`` / ``set_params`` over the ``__init__``
    arguments."""

    @classmethod
    def _param_names(cls) -> tuple[list[str], bool]:
        """The names of the constructor's arguments, and whether it takes ``**params``."""
        sig = inspect.signature(cls.__init__)
        names = [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]
        return names, any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())

    def get_params(self) -> dict[str, Any]:
        """The constructor's arguments as stored (keyword overrides of a config included)."""
        names, extra = self._param_names()
        params = {n: getattr(self, n) for n in names}
        if extra:
            params.update(getattr(self, "params", {}))
        return params

    def set_params(self, **params) -> Estimator:
        """Change constructor arguments (an unknown name is an error unless the constructor takes
        keyword overrides of its config); returns ``self``. Takes effect at the next ``fit``."""
        names, extra = self._param_names()
        for name, value in params.items():
            if name in names:
                setattr(self, name, value)
            elif extra:
                self.params = {**getattr(self, "params", {}), name: value}
            else:
                raise ConfigError(
                    f"{type(self).__name__} has no parameter {name!r}",
                    hint=f"its parameters: {', '.join(names)}",
                )
        return self

    def resolve(
        self,
        model: type[BaseModel],
        base: BaseModel | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> Any:
        """``base`` (default: ``self.config``) with the keyword overrides (default: ``self.params``)
        applied, validated into ``model``; an invalid value is a :class:`ConfigError`."""
        base = self.config if base is None else base
        data = base.model_dump() if base is not None else {}
        data.update(self.params if overrides is None else overrides)
        try:
            return model(**data)
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()
            )
            raise ConfigError(f"{type(self).__name__}: {problems}") from None

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if v is not None)
        return f"{type(self).__name__}({shown})"

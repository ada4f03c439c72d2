"""What the project knows about an estimator family whose size parameter grows by prefixes.

A family is shared-fit capable when the model of size ``n`` is, to the last bit, the first
``n`` members of a larger fit with the same other parameters: a forest's trees (seeded up
front, grown in order), a booster's stages. Each family module answers three questions:
is this class one of mine, can these parameters be shared exactly (and if not, why), and
which model predicts as the first ``n`` members of a fitted one.
"""

from __future__ import annotations

import copy
from typing import Any, Protocol


class Family(Protocol):
    """An estimator family with a size parameter that grows by exact prefixes."""

    name: str
    size_param: str

    def matches(self, cls: type) -> bool:
        """Whether ``cls`` belongs to this family."""

    def why_not(self, params: dict[str, Any]) -> str | None:
        """Why a model with ``params`` (all of them) cannot be shared exactly; None: it can."""

    def cut(self, model: Any, n: int) -> Any:
        """A model that predicts exactly as ``model``'s first ``n`` members (``model`` untouched)."""


def subclass_of(cls: type, *bases: type) -> bool:
    return isinstance(cls, type) and issubclass(cls, bases)


def seed_reason(params: dict[str, Any]) -> str | None:
    """A fixed integer ``random_state`` is what makes a prefix of a larger fit the smaller fit."""
    seed = params.get("random_state")
    if isinstance(seed, bool) or not isinstance(seed, int):
        return f"random_state must be a fixed integer (it is {seed!r})"
    return None


def warm_start_reason(params: dict[str, Any]) -> str | None:
    if params.get("warm_start"):
        return "warm_start is set (the fits grow from earlier ones)"
    return None


def first_reason(*reasons: str | None) -> str | None:
    return next((r for r in reasons if r), None)


def shallow(model: Any, **attributes: Any) -> Any:
    """A shallow copy of ``model`` with ``attributes`` replaced (the fitted members are shared)."""
    cut = copy.copy(model)
    cut.__dict__.update(attributes)
    return cut

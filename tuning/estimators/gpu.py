"""Which estimators compute on a GPU, and the plan's warnings when the reservation and the fit disagree.

Ray's ``num_gpus`` only reserves: a trial's worker gets ``CUDA_VISIBLE_DEVICES`` set to the
GPUs Ray assigned it, and the estimator must then ask for a GPU itself. Known here, by
module name and parameters (nothing optional is imported):

- XGBoost with ``device`` ``cuda`` or ``gpu`` (``cuda:N`` too, but ``cuda`` means the
  GPU Ray assigned: the trial sees only that one);
- LightGBM with ``device``/``device_type`` ``gpu`` or ``cuda`` (its GPU build);
- CatBoost with ``task_type: GPU``;
- cuML's estimators (``cuml.*``), which always run on a GPU.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tuning.values import fmt

GPU_DEVICES = ("cuda", "gpu")


def uses_gpu(class_path: str, params: dict[str, Any]) -> bool:
    """Whether ``class_path(**params)`` fits on a GPU."""
    top = class_path.split(".", 1)[0]
    if top == "cuml":
        return True
    if top == "xgboost":
        return _gpu_device(params.get("device"))
    if top == "lightgbm":
        return _gpu_device(params.get("device_type", params.get("device")))
    if top == "catboost":
        return str(params.get("task_type", "")).upper() == "GPU"
    return False


def _gpu_device(value: Any) -> bool:
    return isinstance(value, str) and value.lower().split(":", 1)[0] in GPU_DEVICES


def gpu_warnings(
    class_path: str, fixed: dict[str, Any], configs: Iterable[dict[str, Any]], num_gpus: float
) -> list[str]:
    """The plan's warning lines: GPUs reserved for an estimator that never uses one, or the reverse.

    ``fixed`` are every trial's parameters, ``configs`` the searched ones (any of them on a GPU counts).
    """
    on_gpu = uses_gpu(class_path, fixed) or any(uses_gpu(class_path, {**fixed, **c}) for c in configs)
    if num_gpus and not on_gpu:
        return [
            f"warning: resources.num_gpus is {fmt(num_gpus)} but {class_path} computes on CPUs only: "
            "the GPU is a scheduling label (XGBoost with device: cuda, LightGBM with device: gpu "
            "and cuML estimators use one)"
        ]
    if on_gpu and not num_gpus:
        return [
            f"warning: {class_path} computes on a GPU but resources.num_gpus is 0: Ray reserves "
            "none, so every trial uses the first GPU it sees, all at once"
        ]
    return []

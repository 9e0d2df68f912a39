"""Saved models: names (names), their typed metadata (schema), the folder that holds them (files), and
the saved form of a run's snapshots (snapshots). The names most callers need, in one import."""
from core.store.files import (DEFAULT_MODEL, MAP_SUFFIX, REPLAY_SUFFIX, SHIPPED_DIR, STORE_ENV, KerasFileBytes,
                              ModelStore)
from core.store.names import MODEL_NAME, VISITOR_NAME, StoreError, validate_name
from core.store.schema import MetaError, ModelInfo, ModelMeta, TestMetrics

__all__ = ["DEFAULT_MODEL", "MAP_SUFFIX", "MODEL_NAME", "REPLAY_SUFFIX", "SHIPPED_DIR", "STORE_ENV", "VISITOR_NAME", "MetaError",
           "KerasFileBytes", "ModelInfo", "ModelMeta", "ModelStore", "StoreError", "TestMetrics", "validate_name"]

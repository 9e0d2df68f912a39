"""Joining a Ray cluster for core.runs.ray_server: $RAY_ADDRESS's, or a local one started here; and why joining
failed, in words a user can act on (Ray 2.60 starts clusters with token authentication)."""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # before ray is imported: no usage reports
import ray  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
LOCAL_CPUS_ENV = "DIGIT_STUDIO_RAY_LOCAL_CPUS"   # size of the local cluster started without $RAY_ADDRESS (default 2)
SHIP_EXCLUDES = [".git", ".venv", "models", "tests", "docs", "benchmarks", "pages", "lessons", "__pycache__"]
_connect_lock = threading.Lock()


def env_int(name: str, default: int) -> int:
    """$name as a whole number, at least 1; `default` when unset or not a number."""
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


def connect() -> None:
    """Join $RAY_ADDRESS's cluster, or start a local one, unless this process is connected already.

    ray.init runs in a thread kept alive for good: the processes of a local cluster are killed when
    the thread that started them ends (Linux's parent-death signal), and a run's own thread ends with it.
    """
    with _connect_lock:
        if ray.is_initialized():
            return
        ready, failure = threading.Event(), []

        def init_and_stay() -> None:
            try:
                quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
                if os.environ.get("RAY_ADDRESS"):  # the code and data/ travel with the job (Ray's working_dir)
                    ray.init(runtime_env={"working_dir": str(ROOT), "excludes": SHIP_EXCLUDES}, **quiet)
                else:
                    ray.init(address="local", num_cpus=env_int(LOCAL_CPUS_ENV, 2), include_dashboard=False, **quiet)
            except BaseException as exc:  # handed to the caller
                failure.append(exc)
            ready.set()
            if not failure:
                threading.Event().wait()

        threading.Thread(target=init_and_stay, name="ray-connection", daemon=True).start()
        ready.wait()
        if failure:
            raise RayConnectionError(connection_failure(failure[0], os.environ.get("RAY_ADDRESS"))) from failure[0]


class RayConnectionError(RuntimeError):
    """The Ray cluster could not be joined; the message says why and what to do."""


def connection_failure(exc: BaseException, address: str | None) -> str:
    """Why joining the cluster failed, in words a user can act on. Ray 2.60 starts clusters with token
    authentication: a cluster that wants a token refuses a driver without one (ConnectionError "Failed to connect
    to Ray cluster at ..." from a RuntimeError naming InvalidAuthToken), or with a wrong one (the same); and a
    driver told RAY_AUTH_MODE=token with no token fails before it connects (ray.exceptions.AuthenticationError)."""
    chain, cause = [], exc
    while cause is not None and len(chain) < 5:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    text = " ".join(f"{type(e).__name__}: {e}" for e in chain)
    cluster = f"the Ray cluster at {address}" if address else "the local Ray cluster"
    where = cluster[0].upper() + cluster[1:]
    token_goes = ("as the RAY_AUTH_TOKEN environment variable, or in a file named by RAY_AUTH_TOKEN_PATH, or in "
                  "~/.ray/auth_token (`ray get-auth-token` on the cluster's head node prints it)")
    if "no authentication token was found" in text:
        return (f"RAY_AUTH_MODE=token is set but no Ray authentication token was found: give the cluster's token "
                f"{token_goes}.")
    if "InvalidAuthToken" in text or "AuthenticationError" in text:
        if "RAY_AUTH_MODE is currently" in text or os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
            return (f"{where} refused the connection: it wants an authentication token. Set RAY_AUTH_MODE=token "
                    f"and give the cluster's token {token_goes}.")
        return (f"{where} refused the authentication token given: it is not this cluster's. Give the cluster's "
                f"own token {token_goes}.")
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"Could not connect to {cluster}: {type(exc).__name__}: {first}"


def runtime_env() -> dict:
    """How an actor finds the code: on a cluster, the folder shipped with the job (see connect); on this
    machine, through PYTHONPATH."""
    if os.environ.get("RAY_ADDRESS"):
        return {}
    return {"env_vars": {"PYTHONPATH": str(ROOT)}}

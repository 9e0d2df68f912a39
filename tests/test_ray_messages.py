"""What a user reads when the Ray cluster cannot be joined (core/runs/ray_connection.py connection_failure): a cluster
that wants an authentication token says how to give it one. No cluster is started."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
pytest.importorskip("ray")

from core.runs.ray_connection import connection_failure  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ADDRESS = "10.0.0.5:6379"
TOKEN_PLACES = ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "~/.ray/auth_token", "ray get-auth-token")


def refused(note: str) -> ConnectionError:
    """The exceptions ray.init raises when the cluster's GCS refuses the driver's token, as Ray 2.60 words them
    (ray/_private/worker.py wraps node.py's RuntimeError; the RuntimeError quotes an AuthenticationError)."""
    inner = RuntimeError(
        "Failed to connect to GCS. Last connection error: Traceback (most recent call last):\n"
        '  File "python/ray/includes/common.pxi", line 119, in ray._raylet.check_status\n'
        "ray.exceptions.AuthenticationError: RPC error: InvalidAuthToken: Authentication token is missing or "
        f"incorrect.{note} Ensure that the token for the cluster is available in a local file (e.g., "
        "~/.ray/auth_token or via RAY_AUTH_TOKEN_PATH) or as the `RAY_AUTH_TOKEN` environment variable.")
    try:
        raise ConnectionError(f"Failed to connect to Ray cluster at {ADDRESS}") from inner
    except ConnectionError as exc:
        return exc


def test_a_cluster_that_wants_a_token_says_to_set_the_mode_and_where_the_token_goes(monkeypatch):
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    text = connection_failure(refused(" Note: RAY_AUTH_MODE is currently 'disabled' (not 'token')."), ADDRESS)
    assert text.startswith(f"The Ray cluster at {ADDRESS} refused the connection: it wants an authentication token.")
    assert "Set RAY_AUTH_MODE=token" in text and all(place in text for place in TOKEN_PLACES), text


def test_a_wrong_token_is_named_as_such(monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    text = connection_failure(refused(""), ADDRESS)
    assert text.startswith(f"The Ray cluster at {ADDRESS} refused the authentication token given: it is not this")
    assert "Set RAY_AUTH_MODE" not in text and all(place in text for place in TOKEN_PLACES), text


def test_another_failure_keeps_rays_own_words():
    text = connection_failure(ConnectionError(f"Failed to connect to Ray cluster at {ADDRESS}"), ADDRESS)
    assert text == (f"Could not connect to the Ray cluster at {ADDRESS}: ConnectionError: Failed to connect to Ray "
                    f"cluster at {ADDRESS}")


def test_token_mode_without_a_token_is_told_where_the_token_goes(tmp_path):
    """The real error: Ray raises it before it tries the address, so none needs to exist."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")}
    env.update(HOME=str(tmp_path), RAY_AUTH_MODE="token", RAY_ADDRESS="127.0.0.1:1", RAY_USAGE_STATS_ENABLED="0")
    code = ("from core.runs.ray_connection import RayConnectionError, connect\n"
            "try:\n    connect()\nexcept RayConnectionError as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.startswith("RAY_AUTH_MODE=token is set but no Ray authentication token was found: give the "
                                  "cluster's token as the RAY_AUTH_TOKEN environment variable"), \
        done.stdout + done.stderr
    assert all(place in done.stdout for place in TOKEN_PLACES)

"""A run's key: the secret in its starter's own link that says "I started this run", so a reload, a second
tab or a phone that dropped the page keeps the run's controls without a name or an account.

The key is an HMAC of the run's id with a secret this process drew at start, so the server stores
nothing per run and only it can make a key. The secret lives as long as the process, as the runs do
(core.runs.queue keeps them in memory, and ids start again after a restart): an old link's key never
opens a new run that happens to get the same id. Anything that is not the right key (another run's,
cut short, altered, empty, not text at all) just does not open the run; checking never raises.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

PARAMETER = "run_key"          # its name in the starter's address (never in a link the app makes)
KEY_BYTES = 16                 # 128 bits of the HMAC, as 32 hex digits
KEY_LENGTH = 2 * KEY_BYTES


class RunKeys:
    """Makes and checks run keys with one secret (a fresh random one unless given, as tests do)."""

    def __init__(self, secret: bytes | None = None):
        self._secret = secret if secret is not None else secrets.token_bytes(32)

    def key_for(self, job_id: str) -> str:
        """The key to run `job_id`: only someone who was given it (its starter) holds it."""
        digest = hmac.new(self._secret, job_id.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
        return digest[:KEY_BYTES].hex()

    def opens(self, job_id: object, key: object) -> bool:
        """Is `key` the key of `job_id`? False for anything else, whatever its type or length."""
        if not (isinstance(job_id, str) and isinstance(key, str) and len(key) == KEY_LENGTH and key.isascii()):
            return False
        return hmac.compare_digest(key.encode("ascii"), self.key_for(job_id).encode("ascii"))


PROCESS_KEYS = RunKeys()       # this server's: every page and tab of it checks keys with the same secret


def key_for(job_id: str) -> str:
    """This server's key for `job_id`."""
    return PROCESS_KEYS.key_for(job_id)


def opens(job_id: object, key: object) -> bool:
    """Does `key` open `job_id` on this server?"""
    return PROCESS_KEYS.opens(job_id, key)

"""A run's key: the starter's link opens their run and nothing else; anything else is "not the owner", never an error."""
import hashlib
import hmac

import pytest

from core.workshop import run_keys
from core.workshop.run_keys import KEY_LENGTH, RunKeys

SECRET = b"s" * 32


def test_a_runs_key_opens_that_run_and_is_the_hmac_of_its_id():
    keys = RunKeys(SECRET)
    key = keys.key_for("job-3-01234")
    oracle = hmac.new(SECRET, b"job-3-01234", hashlib.sha256).hexdigest()[:KEY_LENGTH]
    assert key == oracle and len(key) == KEY_LENGTH
    assert keys.opens("job-3-01234", key)
    assert keys.key_for("job-3-01234") == key                    # stateless: the same key every time


def test_a_key_opens_no_other_run():
    keys = RunKeys(SECRET)
    ids = [f"job-{n}-{n * 7919 % 100000:05d}" for n in range(1, 200)]
    assert len({keys.key_for(i) for i in ids}) == len(ids)
    key = keys.key_for("job-1-07919")
    assert not keys.opens("job-2-15838", key)
    assert not keys.opens("job-1-07918", key)                    # the next id over
    assert not keys.opens("job-1-07919 ", key)


def test_another_servers_key_does_not_open_the_run():
    """A restarted server draws a new secret: the old link's key opens nothing, even for a run with the same id."""
    old, new = RunKeys(), RunKeys()
    assert not new.opens("job-1-00001", old.key_for("job-1-00001"))
    assert run_keys.opens("job-1-00001", run_keys.key_for("job-1-00001"))
    assert not run_keys.opens("job-1-00001", RunKeys(SECRET).key_for("job-1-00001"))


def tampered(key: str) -> list[str]:
    flipped = [key[:i] + ("0" if key[i] != "0" else "1") + key[i + 1:] for i in (0, len(key) // 2, len(key) - 1)]
    return flipped + [key[:-1], key[1:], key + "0", key[:8], key.upper(), " " + key[1:], key[:-1] + "é",
                      key[:-1] + "\x00", key[:-1] + "\udcff"]


@pytest.mark.parametrize("change", range(len(tampered("0" * KEY_LENGTH))))
def test_a_tampered_or_truncated_key_is_refused(change):
    keys = RunKeys(SECRET)
    key = keys.key_for("job-1-00001")
    wrong = tampered(key)[change]
    assert wrong != key and keys.opens("job-1-00001", wrong) is False


@pytest.mark.parametrize("garbage", [None, "", "x", "0" * KEY_LENGTH, "z" * KEY_LENGTH, "k" * 10**6,
                                     ["a", "b"], [], b"0" * KEY_LENGTH, 12345, 1.5, {"key": "v"}, object()])
def test_garbage_is_not_a_key_and_raises_nothing(garbage):
    keys = RunKeys(SECRET)
    assert keys.opens("job-1-00001", garbage) is False


@pytest.mark.parametrize("job_id", [None, "", 7, ["job-1-00001"], "é" * 100, "\udcff", "j" * 10**6])
def test_any_job_id_is_checked_without_an_error(job_id):
    keys = RunKeys(SECRET)
    assert keys.opens(job_id, "0" * KEY_LENGTH) is False
    if isinstance(job_id, str):
        assert keys.opens(job_id, keys.key_for(job_id))

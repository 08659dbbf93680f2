"""What makes the demo's bulk writes cheap without weakening a single ordinary write: ``passwords.hash_once`` (the
demo's accounts share the demo password, hashed once) and ``files.synced_together`` (the demo's photos flushed to
disk at once, before its transaction commits). Outside both blocks every hash is fresh and every file is synced."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from api.accounts import passwords
from geo import files


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "JPEG")
    return out.getvalue()


def test_hash_once_reuses_a_hash_only_inside_the_block():
    pw, other = "Demo-password-2026", "Other-password-2026"
    assert passwords.hash_password(pw) != passwords.hash_password(pw)  # salted: a fresh hash each time
    with passwords.hash_once():
        first = passwords.hash_password(pw)
        assert passwords.hash_password(pw) == first
        assert passwords.hash_password(other) != first
        with passwords.hash_once():  # a nested block starts afresh and leaves the outer one as it was
            assert passwords.hash_password(pw) != first
        assert passwords.hash_password(pw) == first
    assert passwords.hash_password(pw) != first
    # The shared hash is an ordinary one: it checks the password, refuses others, needs no rehash.
    assert passwords.verify_password(first, pw) and not passwords.verify_password(first, other)
    assert not passwords.needs_rehash(first)
    assert first.startswith("$argon2id$")


@pytest.fixture
def syncs(monkeypatch, tmp_path, env):
    """Files go to a fresh folder; every fsync and sync is counted (and still done)."""
    env(CHENGJIAN_FILES_DIR=str(tmp_path / "files"))
    seen = {"fsync": 0, "sync": 0}
    fsync, sync = os.fsync, os.sync

    def counted_fsync(fd):
        seen["fsync"] += 1
        fsync(fd)

    def counted_sync():
        seen["sync"] += 1
        sync()

    monkeypatch.setattr(os, "fsync", counted_fsync)
    monkeypatch.setattr(os, "sync", counted_sync)
    return seen


def test_a_stored_file_is_synced_on_its_own(syncs):
    stored = files.store(_jpeg((10, 20, 30)), "a.jpg")
    assert syncs == {"fsync": 2, "sync": 0}  # the photo and its thumbnail
    assert files.verify(stored.sha256)


def test_files_stored_together_are_synced_once_at_the_end(syncs):
    with files.synced_together():
        stored = [files.store(_jpeg((10 * i, 20, 30)), f"{i}.jpg") for i in range(5)]
        assert syncs == {"fsync": 0, "sync": 0}
        assert all(files.verify(s.sha256) for s in stored)  # in place at once, readable
    assert syncs == {"fsync": 0, "sync": 1}
    files.store(_jpeg((1, 2, 3)), "after.jpg")
    assert syncs == {"fsync": 2, "sync": 1}


def test_the_block_syncs_even_when_the_load_fails(syncs):
    with pytest.raises(RuntimeError), files.synced_together():
        files.store(_jpeg((200, 20, 30)), "x.jpg")
        raise RuntimeError("the load failed")
    assert syncs == {"fsync": 0, "sync": 1}
    with files.synced_together():  # nothing written: nothing to flush
        pass
    assert syncs["sync"] == 1

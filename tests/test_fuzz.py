"""schemathesis over the whole OpenAPI document, against the real app under uvicorn: no generated request, valid or
not, gets a server error (5xx). Bounded in time: a few examples per operation, a time budget per run. An anonymous
caller tries every operation; an administrator (an account of its own, so the suite's sessions are not touched)
every GET — its writes would disable accounts and end sessions the rest of the suite signs in with."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import make_user, running_server

RUN = "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'st'; sys.exit(schemathesis())"


@pytest.fixture(scope="module")
def server(app):
    with running_server(app) as base:
        yield base


@pytest.mark.parametrize("who", ["anonymous", "admin"])
def test_no_generated_request_gets_a_server_error(server, who, tmp_path):
    args = [
        f"{server}/api/openapi.json",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        "3",
        "--max-time",
        "40",
        "--seed",
        "11",
        "--workers",
        "1",
        "--no-shrink",
        "--request-timeout",
        "20",
        "--exclude-path-regex",
        "^/api/auth/sso/",  # redirects to the identity provider (tests/test_sso.py)
    ]
    if who == "admin":
        headers = make_user("fuzz-admin", ["admin"])
        args += ["--include-method", "GET", "--header", f"Authorization:{headers['Authorization']}"]
    done = subprocess.run(
        [sys.executable, "-c", RUN, "run", *args], cwd=tmp_path, capture_output=True, text=True, timeout=90
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]

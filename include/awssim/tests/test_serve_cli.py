"""``python -m awssim serve`` starts a server a separate process can use."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request

import boto3


def test_serve_starts_and_answers_aws_and_control_calls() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "awssim", "serve", "--port", "0", "--scenario", "throttling"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        match = re.search(r"on (http://127\.0\.0\.1:\d+)", banner)
        assert match, banner
        endpoint = match.group(1)
        assert "scenario throttling" in banner
        assert "default account 222222222222" in banner
        with urllib.request.urlopen(f"{endpoint}/_awssim/health", timeout=10) as response:  # noqa: S310
            assert json.loads(response.read())["org"] == "demo"
        sts = boto3.client(
            "sts",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="300000000001",
            aws_secret_access_key="x",
        )
        assert sts.get_caller_identity()["Account"] == "300000000001"
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_serve_rejects_an_unknown_scenario_with_the_valid_names() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "awssim", "serve", "--port", "0", "--scenario", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "one of ['canary-failure', 'happy'" in result.stderr

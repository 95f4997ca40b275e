"""The demo's sample inquiries, as the tests count them."""

from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
MIN_SAMPLES = 10  # a count check must fail when the samples are missing, not pass on zero


def sample_count() -> int:
    """How many sample .eml files ship with the demo; fails when they are (nearly) all gone."""
    count = len(list(SAMPLES.rglob("*.eml")))  # every desk's samples: `triage ingest data/samples` reads sub-folders
    assert count >= MIN_SAMPLES, f"expected at least {MIN_SAMPLES} sample inquiries in {SAMPLES}, found {count}"
    return count

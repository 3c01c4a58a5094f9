"""Placeholder: the quickstart example pipeline is being written; this file will be replaced."""

import sys

print("quickstart not written yet")
sys.exit(1)

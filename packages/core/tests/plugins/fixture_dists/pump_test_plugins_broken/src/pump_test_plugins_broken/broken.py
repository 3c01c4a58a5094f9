"""Fails to import, as a plugin with a missing dependency does."""

raise ImportError("pump-test-plugins-broken is broken on purpose")

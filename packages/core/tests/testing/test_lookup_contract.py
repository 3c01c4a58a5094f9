"""LookupContract on core lookups: good ones pass, broken ones fail the rule they break."""

from __future__ import annotations

import pytest

from pump.lookup import AsyncLookup, DictionaryLookup, MemoryLookupProvider
from pump.testing import LookupContract


class SwitchableProvider(MemoryLookupProvider):
    """A provider in memory that can be made to fail."""

    def __init__(self, app, data):
        super().__init__(app, data)
        self.broken = False

    async def load(self):
        if self.broken:
            raise ConnectionError("provider unreachable")
        return await super().load()

    async def get(self, key):
        if self.broken:
            raise ConnectionError("provider unreachable")
        return await super().get(key)


class DictionaryContract(LookupContract):
    """A DictionaryLookup over a provider each test may change or break."""

    lookup_class = DictionaryLookup
    expected = {"cz": "Czechia", "de": "Germany", 7: [1, 2]}

    def make_lookup(self, app):
        self.provider = SwitchableProvider(app, self.expected)
        return self.lookup_class(app, "countries", provider=self.provider)

    def change(self):
        new = {"cz": "Czech Republic", "fr": "France", 7: [1, 2]}
        self.provider.set(new)
        return new

    def break_provider(self):
        self.provider.broken = True


class TestDictionaryLookup(DictionaryContract):
    pass


class TestAsyncLookup(DictionaryContract):
    """An AsyncLookup fetches per key; it has no content to keep when its store fails."""

    lookup_class = AsyncLookup
    break_provider = LookupContract.break_provider


class TestBSPumpStyleLookup(LookupContract):
    """A lookup without provider that overrides load() (BSPump's shape)."""

    expected = {"a": 1}

    def make_lookup(self, app):
        contract = self

        class Loaded(DictionaryLookup):
            async def load(self):
                if contract.failing:
                    raise OSError("file vanished")
                return dict(contract.content)

        self.content, self.failing = dict(self.expected), False
        return Loaded(app, "loaded")

    def change(self):
        self.content = {"a": 2, "b": 3}
        return self.content

    def break_provider(self):
        self.failing = True


# -- the broken ones ----------------------------------------------------------------------------


class ClearingOnFailureLookup(DictionaryLookup):
    """Empties itself when a reload fails."""

    async def reload(self):
        try:
            return await super().reload()
        except Exception:
            self.Dictionary = {}
            raise


class SilentLookup(DictionaryLookup):
    """Changes its content without telling anyone."""

    def notify_changed(self):
        pass


class StaleLookup(DictionaryLookup):
    """Loads once; later reloads keep the first content."""

    def replace(self, data):
        if self.loaded_at is not None:
            return False
        return super().replace(data)


class RaisingGetLookup(DictionaryLookup):
    """Raises KeyError from get() for a missing key."""

    def get(self, key, default=None):
        return self.Dictionary[key]


def broken(lookup_class):
    return type(
        f"Broken{lookup_class.__name__}Contract",
        (DictionaryContract,),
        {"lookup_class": lookup_class},
    )


async def test_clearing_on_failed_reload_is_caught():
    with pytest.raises(AssertionError, match="after a failed reload"):
        await broken(ClearingOnFailureLookup)().test_failed_reload_keeps_the_old_content()


async def test_missing_notification_is_caught():
    with pytest.raises(AssertionError, match=r"did not publish 'Lookup\.changed!'"):
        await broken(SilentLookup)().test_reload_publishes_the_change()


async def test_ignored_reload_is_caught():
    with pytest.raises(AssertionError, match="after reload"):
        await broken(StaleLookup)().test_reload_publishes_the_change()


async def test_get_raising_for_a_missing_key_is_caught():
    with pytest.raises(KeyError):
        await broken(RaisingGetLookup)().test_missing_key_gives_none_or_the_default()


async def test_wrong_content_is_caught():
    class Wrong(DictionaryContract):
        expected = {"cz": "Czechia"}

        def make_lookup(self, app):
            return DictionaryLookup(app, "x", provider={"cz": "Bohemia", "sk": "Slovakia"})

    with pytest.raises(AssertionError, match="'cz': \\('Czechia', 'Bohemia'\\)"):
        await Wrong().test_start_loads_the_content()


async def test_reload_tests_skip_without_hooks():
    class Plain(LookupContract):
        expected = {"a": 1}

        def make_lookup(self, app):
            return DictionaryLookup(app, "plain", provider=self.expected)

    with pytest.raises(pytest.skip.Exception, match="change"):
        await Plain().test_reload_publishes_the_change()
    with pytest.raises(pytest.skip.Exception, match="break_provider"):
        await Plain().test_failed_reload_keeps_the_old_content()

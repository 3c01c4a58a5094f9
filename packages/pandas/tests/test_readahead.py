"""ReadAhead: chunks parsed in their own thread, one ahead; errors and closing handled."""

from __future__ import annotations

import threading
import time

import pytest

from pump_pandas.readahead import ReadAhead


class Items:
    """A generator's stand-in that records how far it was read, where, and its closing."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.n = n
        self.fail_at = fail_at
        self.read = 0
        self.threads: set[str] = set()
        self.closed_in: str | None = None

    def __iter__(self):
        return self

    def __next__(self) -> int:
        self.threads.add(threading.current_thread().name)
        if self.read == self.fail_at:
            raise ValueError(f"item {self.read} is broken")
        if self.read >= self.n:
            raise StopIteration
        self.read += 1
        return self.read - 1

    def close(self) -> None:
        self.closed_in = threading.current_thread().name


def test_items_come_in_order_prepared_in_the_reading_thread_which_closes_them():
    items = Items(5)
    ahead = ReadAhead(items, lambda i: i * 10, "reader")
    assert list(ahead) == [0, 10, 20, 30, 40]
    ahead.close()
    assert items.threads == {"reader"} and items.closed_in == "reader"


def test_it_reads_one_item_ahead_and_no_more():
    items = Items(100)
    ahead = ReadAhead(items, lambda i: i, "reader", depth=1)
    assert next(ahead) == 0
    # one item waits in the queue, one more is read and waits for room: never further
    time.sleep(0.3)  # time to read further, were it not bounded
    assert items.read <= 3
    ahead.close()
    assert items.closed_in == "reader"


def test_an_error_of_the_reader_is_raised_to_the_consumer_in_its_turn():
    ahead = ReadAhead(Items(10, fail_at=2), lambda i: i, "reader")
    assert next(ahead) == 0 and next(ahead) == 1
    with pytest.raises(ValueError, match="item 2 is broken"):
        next(ahead)
    with pytest.raises(StopIteration):
        next(ahead)
    ahead.close()


def test_closed_before_it_started_it_closes_the_items_itself():
    items = Items(3)
    ahead = ReadAhead(items, lambda i: i, "reader")
    ahead.close()
    assert items.read == 0 and items.closed_in == threading.current_thread().name

"""A distribution with one working processor and two broken entry points."""

import pump


class FineProcessor(pump.Processor):
    """Works: a broken sibling entry point must not affect it."""

    def process(self, context, event):
        return event


def not_a_class(context, event):
    """Registered as a processor, but a function: loading it must be refused."""
    return event

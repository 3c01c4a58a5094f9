"""A second `test.shared` processor: the registry must refuse to pick one of the two."""

import pump


class OtherSharedProcessor(pump.Processor):
    """Tags events with the distribution it comes from."""

    def process(self, context, event):
        return {"shared_by": "pump-test-plugins-conflict", "event": event}

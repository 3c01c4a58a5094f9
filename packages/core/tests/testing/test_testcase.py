"""PipelineTestCase: BSPump's ProcessorTestCase shape, runnable by unittest and by pytest."""

from __future__ import annotations

import unittest

import pump
from pump.testing import PipelineTestCase, ProcessorTestCase


class Upper(pump.Processor):
    """Upper-cases `text`, with a configurable suffix."""

    ConfigDefaults = {"suffix": ""}

    def process(self, context, event):
        return {"text": event["text"].upper() + self.Config["suffix"]}


class Remember(pump.Processor):
    """Appends every event to `seen` (state kept across executes)."""

    def __init__(self, app, pipeline, id=None, config=None):
        super().__init__(app, pipeline, id, config)
        self.seen = []

    def process(self, context, event):
        self.seen.append(event)
        return event


class TestUpper(ProcessorTestCase):
    def test_execute_returns_context_event_pairs(self):
        self.set_up_processor(Upper, {"suffix": "!"})
        output = self.execute([(None, {"text": "hi"}), ({"k": 1}, {"text": "yo"})])
        self.assertEqual(output, [({}, {"text": "HI!"}), ({"k": 1}, {"text": "YO!"})])
        self.assertIsInstance(self.Processor, Upper)
        self.assertIs(self.Processor.Pipeline, self.Pipeline)

    def test_state_survives_between_executes(self):
        self.set_up_processor(Remember)
        self.execute([(None, {"n": 1})])
        self.execute([(None, {"n": 2})])
        self.assertEqual(self.Processor.seen, [{"n": 1}, {"n": 2}])

    def test_execute_result_reports_acknowledgements(self):
        self.set_up_processor(Upper)
        result = self.execute_result([(None, {"text": "a"}), (None, {"no": "text"})])
        self.assertEqual(result.acknowledged, [0])
        self.assertEqual(result.rejected, [1])
        self.assertIsInstance(result.error.error, KeyError)


def test_the_case_runs_under_plain_unittest():
    """The unittest runner (no pytest machinery) runs and passes the case above."""
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(TestUpper)
    outcome = unittest.TestResult()
    suite.run(outcome)
    assert outcome.testsRun == 3
    assert outcome.wasSuccessful(), outcome.failures + outcome.errors


def test_a_failing_expectation_is_reported_as_a_failure():
    class Wrong(PipelineTestCase):
        def test_it(self):
            self.set_up_processor(Upper)
            self.assertEqual(self.execute([(None, {"text": "a"})]), [({}, {"text": "a"})])

    outcome = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(Wrong).run(outcome)
    assert len(outcome.failures) == 1 and not outcome.errors


class Joiner(pump.Processor):
    """Takes constructor arguments besides config, as BSPump processors often do."""

    def __init__(self, app, pipeline, separator, id=None, config=None, *, strategy="plain"):
        super().__init__(app, pipeline, id, config)
        self.separator = separator
        self.strategy = strategy

    def process(self, context, event):
        return f"{self.strategy}{self.separator}{event}"


class TestExtraConstructorArguments(ProcessorTestCase):
    """BSPump's `set_up_processor(cls, *args, **kwargs)` passes them to the component."""

    def test_positional_and_keyword_arguments_reach_the_processor(self):
        self.set_up_processor(Joiner, None, ":", strategy="upper")
        self.assertEqual(self.Processor.strategy, "upper")
        self.assertEqual(self.execute([(None, "x")]), [({}, "upper:x")])

    def test_config_as_a_keyword_with_other_keywords(self):
        self.set_up_processor(Joiner, separator="-", config={}, strategy="s")
        self.assertEqual(self.execute([(None, "y")]), [({}, "s-y")])

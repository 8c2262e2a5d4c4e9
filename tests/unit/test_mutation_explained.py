"""The mutation run's explanations match survivors by module, function and mutated text, never by number."""

from __future__ import annotations

from devkit.mutation_explained import Explanation, changed_lines, explain, explained_entries, mutant_function

DIFF = """--- handler/casrelay/flows/sweep.py
+++ handler/casrelay/flows/sweep.py
@@ -1,3 +1,3 @@
 def run(self):
-    log.emit("sweep.summary",   trigger=trigger)
+    log.emit("XXsweep.summaryXX", trigger=trigger)
"""


def test_a_mutant_key_names_its_function_or_method() -> None:
    assert mutant_function("casrelay.flows.sweep.xǁSweeperǁrun__mutmut_12") == "Sweeper.run"
    assert mutant_function("casrelay.flows.place.x_claim_seconds__mutmut_3") == "claim_seconds"


def test_the_changed_lines_are_read_from_both_sides_of_the_diff_with_whitespace_collapsed() -> None:
    assert changed_lines(DIFF) == ('log.emit("sweep.summary", trigger=trigger)',
                                   'log.emit("XXsweep.summaryXX", trigger=trigger)')


def test_an_explanation_matches_only_its_module_function_and_text() -> None:
    entry = Explanation("flows/sweep.py", "Sweeper.run", '"XXsweep.summaryXX"', "wording", original="sweep.summary")
    key = "casrelay.flows.sweep.xǁSweeperǁrun__mutmut_1"
    assert explain("flows/sweep.py", key, DIFF, [entry]) is entry
    assert explain("flows/place.py", key, DIFF, [entry]) is None
    assert explain("flows/sweep.py", "casrelay.flows.sweep.xǁSweeperǁsweep_one__mutmut_1", DIFF, [entry]) is None
    assert explain("flows/sweep.py", key, DIFF.replace("XXsweep", "YYsweep"), [entry]) is None
    wildcard = Explanation("flows/sweep.py", "*", "XXsweep", "wording")
    assert explain("flows/sweep.py", key, DIFF, [wildcard]) is wildcard


def test_every_explanation_gives_a_reason_and_names_a_module_of_the_run() -> None:
    from devkit.mutation import MODULES

    entries = explained_entries()
    assert entries and all(e.reason.strip() and e.module in MODULES and e.mutated.strip() for e in entries)

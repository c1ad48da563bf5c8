"""The build report's inputs: the artifacts of a build folder and how a missing one is named."""

from __future__ import annotations

from flow.artifacts import Artifact, Build
from flow.report.document import Doc, wording


def shows(b: Build, artifact: Artifact) -> str:
    """What ``artifact`` would show, in the words of the build's metric."""
    return artifact.shows.format(metric=wording(b.metric).noun)


def note(b: Build, doc: Doc, *artifacts: Artifact, here: bool = True) -> bool:
    """Note in ``doc`` every artifact of ``artifacts`` that is missing; True if all are present.

    With ``here`` False it is only remembered for the closing summary.
    """
    ok = True
    for art in artifacts:
        if b.get(art) is None:
            stage = "the pipeline run" if art.stage == "run" else f"stage `{art.stage}`"
            args = (art.path, f"`{art.path}` ({stage} has not written it)", shows(b, art))
            (doc.note_missing if here else doc.register_missing)(*args)
            ok = False
    return ok

"""Reports: one Markdown and one self-contained HTML page per build folder or sweep folder.

- :mod:`flow.report.document`: the document model (blocks rendered to Markdown and HTML),
  cell formatting and the figure helpers;
- :mod:`flow.report.build_report`: the build report (:func:`render_build_report`), with the
  sections in :mod:`~flow.report.examples` (super-resolution tiles) and
  :mod:`~flow.report.resources` (synthesis and FINN's estimates); its inputs are read through
  :class:`flow.artifacts.Build` (:mod:`~flow.report.inputs` names the missing ones);
- :mod:`flow.report.sweep_report`: the sweep report (:func:`render_sweep_report`) and its
  findings.
"""

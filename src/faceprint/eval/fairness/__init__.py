"""Fairness: per-group error audits and the post-processing that narrows the gaps.

- :mod:`.groups` — group labels (a CSV the user holds, or predicted proxies);
- :mod:`.audit` — per-group FMR/FNMR, FPIR/FNIR and their inequity measures;
- :mod:`.report` — the audit's report (summary, JSON, picture);
- :mod:`.fit` — fitting the score adjusters of :mod:`faceprint.core.score_adjust`;
- :mod:`.heldout` — each mitigation measured on identities it was not fitted on;
- :mod:`.plots` — the audit's picture.
"""

"""One module per command, named after it: its options (``add_parser``) and its code."""

from __future__ import annotations

from . import audit_memorization, augment, evaluate, forecast, impute, inpaint, models, mri_to_ct, prepare_case, prepare_pairs, provenance, serve, train

COMMANDS = (
    mri_to_ct,
    impute,
    inpaint,
    forecast,
    augment,
    prepare_pairs,
    prepare_case,
    train,
    evaluate,
    audit_memorization,
    models,
    provenance,
    serve,
)  # in the order ``--help`` lists them

//! Learning a skill graph from labelled routing history.

"""Data-quality checks on each Silver table; an `error` failure stops the pipeline before Gold."""

"""Layer `results`: pure computation on run records, no I/O and no MLflow: the rule for "best"
(`selection`), statistics over seeds (`stats`), per-method report rows (`rows`) and the
diagnostic-vs-generalization rank correlations (`correlation`, built on `kendall` and
`granulated`)."""

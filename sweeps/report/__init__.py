"""Layer `report`: what the commands print and write: status and best (`status`), the Pareto set
of `best --pareto` (`pareto_listing`), the report document (`document`) with its tables (`tables`)
and figures (`plots`, in the style of `figure_style`), the analysis output (`analysis`,
`analysis_plots`)."""

"""Layer `report`: what the commands print and write: status and best (`status`), the report
(`report`) with its tables (`tables`) and figures (`plots`), the analysis output (`analysis`,
`analysis_plots`)."""

"""A sweep's MLflow store: one schema (`schema`), its writer (`writer`) and reader (`reader`)."""

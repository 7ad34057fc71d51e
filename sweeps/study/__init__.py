"""Layer `study`: a study file -> a validated `StudySpec` (`spec`), its distributions (`distributions`)."""

"""The incidents subsystem's business rules: holds (`holds`), resumes (`resumes`), and the work
both hand to the workers (`steps`)."""

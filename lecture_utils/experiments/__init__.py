"""One module per experiment notebook: its tasks, runners, tables, figures and widgets."""

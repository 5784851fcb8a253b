"""Results: tables and intervals, verdicts in words, figures and widget panels."""

"""One package per notebook (``nb01_multitask`` ... ``nb06_language``): its tasks, runners,
sweeps, tables, figures and widgets. A notebook package imports only from the generic floors
and from itself."""

"""Collection sources, one module per component. Each module's ``sources(plan)`` declares, in one
screen, what it gathers and where it goes in the bundle; :mod:`nodediag.collector.engine` runs them."""

"""Contract test suites an engine or connector plugin runs against its implementation
(``lakeworks.testing.engines``, ``lakeworks.testing.connectors``); they need pytest."""

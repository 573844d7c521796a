"""nodediag.report_templates: Jinja templates for the incident report (HTML, Markdown); package data only."""

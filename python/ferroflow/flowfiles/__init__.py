"""Flow files and projects: script pipelines declared in JSON, YAML or TOML, and what runs them."""

"""Use cases shared by the web pages, the JSON API, the CLI and background jobs."""

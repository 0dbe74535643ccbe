"""Development tools shipped with the bot: a fake Slack Web API for tests, the benchmark and the offline demo."""

"""The bot's commands: plain async functions `(ctx, args) -> Message`, shared by `/dis`, @mentions and buttons.

Slack-free on purpose: a command reads services and returns a `Message`; the listeners decide how to deliver it.
"""

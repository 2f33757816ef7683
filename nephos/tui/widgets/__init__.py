"""The widgets of ``nephos watch``: status bar, provider cards, the targets and alerts tables."""

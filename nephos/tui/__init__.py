"""The Textual face of nephos: ``nephos watch``, its view-model, widgets, screens and styles.

Textual is imported only by the modules that need it; ``state`` and ``query`` are headless.
"""

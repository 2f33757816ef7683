"""One alert explained as text, for faces that hold only the alert (the TUI's ``e``).

With a config whose hot store is on this machine and knows the alert, the explanation uses the
same facts as ``nephos explain-alert`` and the configured narrator (falling back to the
template's text when a model fails). Otherwise it is the template's reading of the alert and
the evidence it carries, offline.
"""

from __future__ import annotations

from datetime import datetime

from nephos.clock import Clock, SystemClock
from nephos.config.types import Config
from nephos.errors import NephosError
from nephos.insights.facts import AlertFacts
from nephos.insights.gather import alert_fact, open_sources
from nephos.insights.gather_alert import alert_facts
from nephos.insights.narrators.template import TemplateNarrator
from nephos.insights.render import explanation_text
from nephos.insights.runtime import narrate, open_narrator
from nephos.model import Alert

__all__ = ["explain_text"]


async def explain_text(
    alert: Alert, *, now: datetime, config: Config | None = None, clock: Clock | None = None
) -> str:
    """The explanation of ``alert`` as the text ``nephos explain-alert`` prints.

    Args:
        alert: the alert, as the caller holds it.
        now: when it is explained (ages are measured to it).
        config: the configuration whose hot store and narrator to use, if any.
        clock: the clock for the backends (default: the system clock).

    Raises:
        NephosError: the configured narrator cannot be built (a bad narrator setting).
    """
    if config is None:
        alone = AlertFacts(as_of=now, alert=alert_fact(alert, now, {}))
        return explanation_text(await TemplateNarrator().explain(alone), alone.alert)
    clock = clock or SystemClock()
    facts: AlertFacts | None = None
    try:
        async with open_sources(config, clock=clock, warehouse=False) as src:
            if src.store is not None and await src.store.get_alert(alert.id) is not None:
                facts = await alert_facts(src, alert.id, now=now)
    except NephosError:
        facts = None  # the store is elsewhere or busy: explain from the alert alone
    if facts is None:
        runbooks = {t.name: t.runbook for t in config.targets if t.runbook}
        facts = AlertFacts(as_of=now, alert=alert_fact(alert, now, runbooks))
    async with open_narrator(config, clock=clock) as narrator:
        narration = await narrate(narrator, lambda n: n.explain(facts))
    return explanation_text(narration, facts.alert)

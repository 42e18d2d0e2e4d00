"""The worker's jobs: both run every minute under their own names and queueing locks."""

from __future__ import annotations

from procrastinate import App, testing

from finhub.webhooks import tasks


def test_the_jobs_are_periodic_and_locked_against_piling_up() -> None:
    app = App(connector=testing.InMemoryConnector())
    app.add_tasks_from(tasks.blueprint, namespace="")
    assert {"webhooks.dispatch", "webhooks.notify_payments"} <= set(app.tasks)
    periodic = {task.task.name: task for task in app.periodic_registry.periodic_tasks.values()}
    assert periodic["webhooks.dispatch"].cron == "* * * * *"
    assert periodic["webhooks.notify_payments"].cron == "* * * * *"
    assert app.tasks["webhooks.dispatch"].queueing_lock == "dispatch_webhooks"
    assert app.tasks["webhooks.notify_payments"].queueing_lock == "notify_payments"

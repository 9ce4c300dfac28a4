"""ARQ workers: notifications, no-show risk, reminders, the reconciler."""

"""Patient notifications: what a message says (templates); the workers decide when and send."""

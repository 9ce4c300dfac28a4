"""No-show risk: features (pure), the model (pure numpy + scikit-learn for fitting), the
waitlist that fills freed slots, and the optional LLM explainer. SQL lives in server/db/."""

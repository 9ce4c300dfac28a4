"""The languages patients, messages and boards are offered in: one list for the whole server.

The pages' list is static/js/i18n.js LANGUAGES (the same codes, checked by a test). A code
outside this list is refused with a 422, so a desk never saves a language nobody reads.
"""

from __future__ import annotations

# ISO 639-1 codes; the order is the order a language switch lists them
LANGUAGES = ("en", "hi", "bn", "mr", "te", "ta", "kn", "ml", "gu")
NAMES = {"en": "English", "hi": "हिंदी", "bn": "বাংলা", "mr": "मराठी", "te": "తెలుగు",
         "ta": "தமிழ்", "kn": "ಕನ್ನಡ", "ml": "മലയാളം", "gu": "ગુજરાતી"}
DEFAULT_LANGUAGE = "en"

#!/usr/bin/env bash
# Generate the offline announcement fragments the display board plays when the browser has no
# local speech voice (static/board/announce.js). Output: static/audio/<lang>/<name>.ogg and
# static/audio/manifest.json. The generated files are committed; run this again only to change
# the wording or add a language.
#
# Needs espeak-ng and sox (Debian: apt-get install -y espeak-ng sox).
#
# Fragments per language: the words of the phrase, the letters A-Z (department codes and
# cabin letters are spelled), the numbers 0-99, "hundred" and "thousand" (the board builds
# 100-9999 from these, e.g. 145 = 1 hundred 45, as both English and Hindi say it), and
# "again", said after the token's number when the call is a recall.
#   en: "Token | C A R D | 45 | [again] | please go to cabin | C | 101"
#   hi: "टोकन नंबर | C A R D | 45 | [फिर से] | केबिन | C | 101 | में आइए"
# and likewise bn mr te ta kn ml gu ("token number | ... | cabin | ... | please come"), with
# espeak-ng's own voice for each (letters are the Latin letters as that voice reads them).
#
# Usage: ./generate.sh [LANG...]   (default: every language; the manifest lists all that exist)
#        ONLY="again" ./generate.sh   (only the fragments named: a new word, the others kept)
set -euo pipefail
cd "$(dirname "$0")"

command -v espeak-ng >/dev/null || { echo "needs espeak-ng (apt-get install espeak-ng)" >&2; exit 1; }
command -v sox >/dev/null || { echo "needs sox (apt-get install sox)" >&2; exit 1; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# say LANG VOICE NAME TEXT: speak TEXT into LANG/NAME.ogg, mono 16 kHz, silence trimmed
say() {
  local lang=$1 voice=$2 name=$3 text=$4
  if [[ -n ${ONLY:-} && " $ONLY " != *" $name "* ]]; then return 0; fi
  mkdir -p "$lang"
  espeak-ng -v "$voice" -s 140 -a 180 -w "$TMP/raw.wav" -- "$text"
  sox "$TMP/raw.wav" -r 16000 -c 1 -C 0 "$lang/$name.ogg" \
    silence 1 0.02 0.3% reverse silence 1 0.02 0.3% reverse norm -1
}

EN_LETTERS=(A B C D E F G H I J K L M N O P Q R S T U V W X Y Z)
HI_LETTERS=(ए बी सी डी ई एफ़ जी एच आई जे के एल एम एन ओ पी क्यू आर एस टी यू वी डब्ल्यू एक्स वाई ज़ेड)

WANT=" ${*:-en hi bn mr te ta kn ml gu} "
want() { [[ $WANT == *" $1 "* ]]; }

# English (Indian English voice where espeak-ng has it)
if want en; then
EN_VOICE=en-gb
espeak-ng --voices=en | grep -q " en-in " 2>/dev/null && EN_VOICE=en-in || true
say en "$EN_VOICE" token "Token"
say en "$EN_VOICE" cabin "please go to cabin"
say en "$EN_VOICE" again "again"
say en "$EN_VOICE" hundred "hundred"
say en "$EN_VOICE" thousand "thousand"
for i in "${!EN_LETTERS[@]}"; do
  l=${EN_LETTERS[$i]}
  say en "$EN_VOICE" "letter-${l,,}" "$l"
done
for n in $(seq 0 99); do say en "$EN_VOICE" "n$n" "$n"; done
fi

# Hindi
if want hi; then
say hi hi token "टोकन नंबर"
say hi hi cabin "केबिन"
say hi hi again "फिर से"
say hi hi come "में आइए"
say hi hi hundred "सौ"
say hi hi thousand "हज़ार"
for i in "${!EN_LETTERS[@]}"; do
  say hi hi "letter-${EN_LETTERS[$i],,}" "${HI_LETTERS[$i]}"
done
for n in $(seq 0 99); do say hi hi "n$n" "$n"; done
fi

# The other Indian languages: LANG | token | cabin | come | hundred | thousand | again
OTHERS=(
  "bn|টোকেন নম্বর|কেবিন|নম্বরে আসুন|শো|হাজার|আবার"
  "mr|टोकन नंबर|केबिन|मध्ये या|शे|हजार|पुन्हा"
  "te|టోకెన్ నంబర్|క్యాబిన్|నంబర్‌కు రండి|వంద|వేయి|మళ్ళీ"
  "ta|டோக்கன் எண்|அறை|எண்ணுக்கு வாருங்கள்|நூறு|ஆயிரம்|மீண்டும்"
  "kn|ಟೋಕನ್ ಸಂಖ್ಯೆ|ಕ್ಯಾಬಿನ್|ಸಂಖ್ಯೆಗೆ ಬನ್ನಿ|ನೂರು|ಸಾವಿರ|ಮತ್ತೊಮ್ಮೆ"
  "ml|ടോക്കൺ നമ്പർ|ക്യാബിൻ|നമ്പറിലേക്ക് വരൂ|നൂറ്|ആയിരം|വീണ്ടും"
  "gu|ટોકન નંબર|કેબિન|માં આવો|સો|હજાર|ફરીથી"
)
for row in "${OTHERS[@]}"; do
  IFS='|' read -r lang token cabin come hundred thousand again <<<"$row"
  want "$lang" || continue
  say "$lang" "$lang" token "$token"
  say "$lang" "$lang" again "$again"
  say "$lang" "$lang" cabin "$cabin"
  say "$lang" "$lang" come "$come"
  say "$lang" "$lang" hundred "$hundred"
  say "$lang" "$lang" thousand "$thousand"
  for l in "${EN_LETTERS[@]}"; do say "$lang" "$lang" "letter-${l,,}" "$l"; done
  for n in $(seq 0 99); do say "$lang" "$lang" "n$n" "$n"; done
done

# what exists, so the board asks only for files that are there
python3 - <<'EOF'
import json, pathlib
langs = {d.name: sorted(p.stem for p in d.glob("*.ogg"))
         for d in sorted(pathlib.Path(".").iterdir()) if d.is_dir()}
phrases = {code: ["token", "{letters}", "{number}", "{again}", "cabin", "{cabin}", "come"]
           for code in langs}
phrases["en"] = ["token", "{letters}", "{number}", "{again}", "cabin", "{cabin}"]
pathlib.Path("manifest.json").write_text(json.dumps(
    {"format": "ogg", "phrases": phrases, "fragments": langs}, ensure_ascii=False, indent=1) + "\n")
EOF
du -sh ./*/

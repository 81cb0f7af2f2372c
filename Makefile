# Set-up is part of every target: a fresh clone needs only `make run` or `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
WEB    := node_modules/@mediapipe/hands/hands.js node_modules/@mediapipe/holistic/holistic.js
DATA   ?= ../shared/datasets

.PHONY: setup run test bench browser shipped clean

setup: $(STAMP) $(WEB)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-* && touch $@

# MediaPipe's browser hands and holistic (body pose + hands, for pose vocabularies like Kata
# Kolok) solutions, which bundle their models, for the web pages; never committed.
$(WEB) &: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $(WEB)

# Debian's Chromium for the real-browser test (root on the project's machines).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi; }

run: setup
	$(VENV)/bin/isyarat serve

test: setup browser
	$(PY) -m pytest -q

# Rebuild the models shipped inside the package from the shared data (about 20 minutes on 2 cores).
SHIPPED := src/isyarat/shipped
shipped: setup
	$(VENV)/bin/isyarat train sibi-letters --data $(DATA)/sibi-alphabet-ajustiago \
	  --data $(DATA)/asl-alphabet-landmarks-graudt --out runs/sibi-letters --quiet
	rm -rf runs/synth-sibi && $(VENV)/bin/isyarat synth sibi --data $(DATA)/sibi-alphabet-ajustiago \
	  --data $(DATA)/asl-alphabet-landmarks-graudt --out runs/synth-sibi --per-letter 80 --quiet
	$(VENV)/bin/isyarat train sibi-motion --data runs/synth-sibi --out runs/sibi-motion --quiet
	$(VENV)/bin/isyarat export runs/sibi-letters --motion runs/sibi-motion --out $(SHIPPED)/sibi-letters
	$(VENV)/bin/isyarat train bisindo-letters --data $(DATA)/bisindo-alphabet-binus --out runs/bisindo-letters --quiet
	rm -rf runs/synth-bisindo && $(VENV)/bin/isyarat synth bisindo --data $(DATA)/bisindo-alphabet-binus \
	  --out runs/synth-bisindo --per-letter 80 --quiet
	$(VENV)/bin/isyarat train bisindo-motion --data runs/synth-bisindo --out runs/bisindo-motion --quiet
	$(VENV)/bin/isyarat export runs/bisindo-letters --motion runs/bisindo-motion --out $(SHIPPED)/bisindo-letters
	$(VENV)/bin/isyarat train bisindo-words --data $(DATA)/bisindo-words-wlbisindo --out runs/bisindo-words --quiet
	$(VENV)/bin/isyarat export runs/bisindo-words --out $(SHIPPED)/bisindo-words

# Every benchmark, one after another on an otherwise idle machine (about 2 hours on 2 cores); the
# tables go to bench/results/*.txt, which the README quotes.
bench: setup
	mkdir -p bench/results
	$(PY) bench/extract.py | tee bench/results/extract.txt
	$(PY) bench/extract.py --limit 100 --workers 2 --ray local nodes | tee bench/results/extract-ray.txt
	$(PY) bench/accuracy.py | tee bench/results/accuracy.txt
	$(PY) bench/image_vs_landmarks.py | tee bench/results/image_vs_landmarks.txt
	$(PY) bench/realtime.py --bundle $(SHIPPED)/sibi-letters  # writes bench/results/realtime.txt itself
	$(PY) bench/motion.py | tee bench/results/motion.txt

clean:
	rm -rf $(VENV) node_modules .pytest_cache

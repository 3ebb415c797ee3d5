"""Browser test of the built docs site, in headless Chromium (Debian's chromium + chromium-driver, via Selenium).

Serves docs/_build/html on a local port and loads every page. Fails if an image of the site did not load
(naturalWidth 0; external badges are listed, not loaded, as the test runs offline), an internal link or #anchor is broken, the browser console shows an error, a chapter
lacks its title, a chapter's Colab button does not open that chapter's notebook on GitHub, a chapter
in FIGURE_PAGES shows fewer rendered figures than its notebook has stored image outputs, or a folded exercise
solution (a `<details>` block) on DETAILS_PAGE is not folded at first or does not show its content on a click.
Screenshots of every page go to screenshots/ (ignored by git).
Usage: python tools/test_docs_browser.py [--site docs/_build/html]
"""
import argparse, functools, http.server, json, re, sys, threading, urllib.parse, urllib.request
from configparser import ConfigParser
from pathlib import Path
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parents[1]
cfg = ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini'); cfg = cfg['DEFAULT']
GH = cfg['git_url'].replace('https://github.com/', '')

def chapter_titles() -> dict:
    "Page name -> title (the notebook's first heading) of every chapter."
    out = {}
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        md = ''.join(json.loads(nb.read_text())['cells'][0]['source'])
        out[nb.stem] = re.match(r'#\s+(.+)', md).group(1).strip()
    return out

FIGURE_PAGES = ['06_concepts']
DETAILS_PAGE = '00_data.html'    # a chapter whose exercises' folded solutions must open on a click

def details_open(d, base) -> str:
    "Open a folded exercise solution (<details><summary>Solution</summary>) on DETAILS_PAGE; '' if it shows, else why."
    d.get(base + DETAILS_PAGE)
    found = d.execute_script("""
        const det = Array.from(document.querySelectorAll('details')).find(
            x => x.querySelector('summary') && x.querySelector('summary').textContent.trim() === 'Solution');
        if (!det) return null;
        const body = Array.from(det.children).find(c => c.tagName !== 'SUMMARY');
        window._det = det; window._body = body;
        return [det.open, body ? body.checkVisibility() : null];""")
    if found is None: return f'{DETAILS_PAGE}: no <details> with a Solution summary'
    if found[0] or found[1] is not False:                   # a closed <details> renders none of its content
        return f'{DETAILS_PAGE}: the solution is not folded at first (open, content visible: {found})'
    d.execute_script("window._det.querySelector('summary').click()")
    after = d.execute_script("return [window._det.open, window._body.checkVisibility() && "
                             "window._body.getBoundingClientRect().height, window._body.innerText.length]")
    if not (after[0] and after[1] > 0 and after[2] > 0):
        return f'{DETAILS_PAGE}: a click on Solution did not show its content (open, height, text: {after})'
    return ''   # chapters whose every stored figure must render on the site

def chapter_figures(stem: str) -> int:
    "Number of image outputs the chapter's notebook shows on the site (not counting cells nbdev hides)."
    n = 0
    for c in json.loads((ROOT/'nbs'/f'{stem}.ipynb').read_text())['cells']:
        if c['cell_type'] != 'code': continue
        if re.search(r'^#\|\s*(hide|output:\s*false|include:\s*false)\s*$', ''.join(c['source']), re.M): continue
        n += sum(any(k.startswith('image/') for k in o.get('data', {})) for o in c.get('outputs', []))
    return n

def serve(site: Path):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    handler = functools.partial(Quiet, directory=str(site))
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f'http://127.0.0.1:{srv.server_address[1]}/'

def browser():
    o = webdriver.ChromeOptions()
    o.binary_location = '/usr/bin/chromium'
    for f in ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
              '--disable-background-networking', '--disable-component-update', '--disable-sync', '--window-size=1280,900']:
        o.add_argument(f)
    o.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    return webdriver.Chrome(service=Service('/usr/bin/chromedriver'), options=o)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--site', default=str(ROOT/'docs'/'_build'/'html')); ap.add_argument('--shots', default=str(ROOT/'screenshots'))
    a = ap.parse_args()
    site, shots = Path(a.site), Path(a.shots); shots.mkdir(exist_ok=True)
    pages = sorted(str(p.relative_to(site)) for p in site.rglob('*.html') if not str(p.relative_to(site)).startswith('_static/'))
    titles = chapter_titles()
    srv, base = serve(site)
    d, errors, links, html_cache, external = browser(), [], set(), {}, set()
    try:
        for page in pages:
            url = base + page
            d.get(url)
            d.execute_script("return document.readyState")
            d.save_screenshot(str(shots/(page.replace('/', '__').replace('.html', '.png'))))
            imgs = d.execute_script("return Array.from(document.images).map(i => [i.src, i.complete, i.naturalWidth])")
            errors += [f'{page}: image did not load: {s}' for s, ok, w in imgs if s.startswith(base) and not (ok and w > 0)]
            external |= {s for s, *_ in imgs if not s.startswith(base)}
            for e in d.get_log('browser'):
                offline = 'ERR_NAME_NOT_RESOLVED' in e['message'] or 'ERR_INTERNET_DISCONNECTED' in e['message']
                if e['level'] == 'SEVERE' and not (offline and not e['message'].startswith(base)):
                    errors.append(f"{page}: console error: {e['message']}")
            for href in d.execute_script("return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"):
                if href.startswith(base): links.add((page, href))
            stem = Path(page).stem
            if stem in titles and '/' not in page:
                h1 = d.execute_script("const h = document.querySelector('article h1, main h1'); return h ? h.textContent : ''")
                h1 = h1.replace('#', '').replace('\u2019', "'").strip()             # Sphinx curls apostrophes
                if titles[stem] not in h1: errors.append(f'{page}: title {titles[stem]!r} not found (h1: {h1!r})')
                colab = d.execute_script("return Array.from(document.querySelectorAll('a[href*=\"colab.research.google.com\"]')).map(a => a.href)")
                want = f'https://colab.research.google.com/github/{GH}/blob/{cfg["branch"]}/nbs/{stem}.ipynb'
                if want not in colab: errors.append(f'{page}: no Colab button to {want} (found {colab})')
                if stem in FIGURE_PAGES:      # every figure rendered: loaded, and the size of a figure (not an icon)
                    n_fig = chapter_figures(stem)
                    shown = d.execute_script("return Array.from(document.querySelectorAll('article img, main img'))"
                                             ".filter(i => i.complete && i.naturalWidth >= 200 && i.naturalHeight >= 100).length")
                    if n_fig == 0 or shown < n_fig: errors.append(f'{page}: {shown} rendered figures, expected {n_fig} (the notebook\'s image outputs)')
        why = details_open(d, base)
        if why: errors.append(why)
        for page, href in sorted(links):
            target, _, frag = href[len(base):].partition('#')
            target = urllib.parse.unquote(target) or 'index.html'
            if target.endswith('/'): target += 'index.html'
            f = site/target
            if not f.is_file(): errors.append(f'{page}: broken link {href}'); continue
            if frag and f.suffix == '.html':
                html = html_cache.setdefault(f, f.read_text(errors='replace'))
                if f'id="{urllib.parse.unquote(frag)}"' not in html: errors.append(f'{page}: broken anchor {href}')
    finally:
        d.quit(); srv.shutdown()
    print(f'{len(pages)} pages, {len(links)} internal links checked in headless Chromium; screenshots in {shots}')
    print(f'external images not checked (this test runs offline): {sorted(external)}')
    for e in errors: print('FAIL', e)
    missing = [t for t in titles if not (site/f'{t}.html').exists()]
    if missing: print('FAIL chapters without a page:', missing)
    sys.exit(1 if errors or missing else 0)

if __name__ == '__main__': main()

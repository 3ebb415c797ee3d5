"""Browser test of the demo page (`fmnist-cnn demo`, chapter 8) in headless Chromium, through Selenium.

Starts the demo as a subprocess on a free port of 127.0.0.1 with the `modern` weights, then, in the page:
uploads a Fashion-MNIST test image saved as PNG and a larger photo-like JPEG, reads the top class and checks
that the page shows the photo itself (not only its file name), what the model saw and the Grad-CAM map;
uploads a file over the size limit and a file that is not an image and reads the messages; checks that
the page loaded nothing from outside the server and that the server listens on 127.0.0.1 only.
Skipped, with the reason, when Chromium, chromedriver, Selenium or Gradio (the `demo` extra) is missing.
About 40 s on two busy CPU cores, half of it starting the server (importing torch and Gradio).
"""
import importlib.util, os, shutil, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import numpy as np
import pytest
from PIL import Image
from fmnist_cnn.data import CLASSES, load_tensors

CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
DRIVER = shutil.which('chromedriver') or '/usr/bin/chromedriver'
missing = [n for n, ok in [('chromium', os.path.exists(CHROMIUM)), ('chromedriver', os.path.exists(DRIVER)),
                           ('selenium', importlib.util.find_spec('selenium')),
                           ("gradio (pip install 'fmnist_cnn[demo]')", importlib.util.find_spec('gradio'))] if not ok]
pytestmark = pytest.mark.skipif(bool(missing), reason=f"the demo browser test needs {', '.join(missing)}")

MAX_MB = 1   # the page's upload limit in this test (small, so the oversized file is quick to make)

def free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def listening_addresses(port: int) -> set:
    "Local addresses of the TCP sockets listening on `port` (Linux: /proc/net/tcp and tcp6)."
    out = set()
    for f in ('/proc/net/tcp', '/proc/net/tcp6'):
        if not os.path.exists(f): continue
        for line in open(f).read().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, p = local.rsplit(':', 1)
            if state == '0A' and int(p, 16) == port:   # 0A: LISTEN
                out.add(socket.inet_ntoa(bytes.fromhex(addr)[::-1]) if len(addr) == 8 else addr)
    return out

@pytest.fixture(scope='module')
def files(tmp_path_factory):
    "A test image as PNG, a photo-like JPEG, a file over the limit and a file that is not an image; their true classes."
    d = tmp_path_factory.mktemp('uploads')
    x, y = load_tensors(False)
    Image.fromarray((255*x[0, 0].numpy()).round().astype(np.uint8)).save(d/'boot.png')
    i = int((y == CLASSES.index('Trouser')).nonzero()[0])             # a photo: large, in colour, dark on light
    g = Image.fromarray((255*x[i, 0].numpy()).astype(np.uint8)).resize((420, 420), Image.BICUBIC)
    g = np.asarray(g, dtype=np.float32)/255
    photo = np.array([245, 235, 215])*(1 - g[..., None]) + np.array([40, 50, 90])*g[..., None]
    Image.fromarray(photo.round().astype(np.uint8)).save(d/'trousers.jpg', quality=90)
    (d/'big.png').write_bytes(b'\x89PNG' + bytes(int(1.5e6)))
    (d/'notes.png').write_text('this is not an image')
    return d, {'boot.png': CLASSES[y[0]], 'trousers.jpg': 'Trouser'}, {'boot.png': 28, 'trousers.jpg': 420}

@pytest.fixture(scope='module')
def server(tmp_path_factory):
    "`fmnist-cnn demo` on a free port: (base URL, port); stopped at the end."
    port = free_port()
    log = open(tmp_path_factory.mktemp('demo')/'demo.log', 'w+')
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED='False')
    p = subprocess.Popen([sys.executable, '-m', 'fmnist_cnn', 'demo', '--port', str(port), '--max-mb', str(MAX_MB)],
                         stdout=log, stderr=subprocess.STDOUT, text=True, env=env)
    url, t = f'http://127.0.0.1:{port}/', time.time()
    try:
        while True:
            assert p.poll() is None, f'the demo exited: {open(log.name).read()}'
            assert time.time() - t < 120, f'the demo did not start in 120 s: {open(log.name).read()}'
            try: urllib.request.urlopen(url, timeout=5); break
            except OSError: time.sleep(0.5)
        yield url, port, log
    finally:
        p.terminate()
        try: p.wait(timeout=20)
        except subprocess.TimeoutExpired: p.kill(); p.wait()
        log.close()

@pytest.fixture(scope='module')
def page(server):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    for f in ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
              '--disable-background-networking', '--disable-component-update', '--disable-sync',
              '--window-size=1280,900']:
        o.add_argument(f)
    d = webdriver.Chrome(service=Service(DRIVER), options=o)
    try:
        d.get(server[0])
        yield d
    finally: d.quit()

def _by(): from selenium.webdriver.common.by import By; return By

def upload(d, path: Path, until, timeout=60):
    "Clear the drop zone if it holds a file, upload `path`, and wait until `until(d)` is true; its value."
    from selenium.webdriver.support.ui import WebDriverWait
    By = _by()
    W = WebDriverWait(d, timeout)
    for b in d.find_elements(By.CSS_SELECTOR, '#upload button[aria-label="Clear"]'): b.click()
    W.until(lambda d: d.find_elements(By.CSS_SELECTOR, '#upload input[type=file]'))
    W.until(lambda d: not d.find_element(By.ID, 'answer').text.strip())
    d.find_element(By.CSS_SELECTOR, '#upload input[type=file]').send_keys(str(path))
    return W.until(until)

def answer_text(d) -> str: return d.find_element(_by().ID, 'answer').text.strip()

def test_bound_to_localhost(server):
    if not os.path.exists('/proc/net/tcp'): pytest.skip('no /proc/net/tcp to read listening sockets from')
    addrs = listening_addresses(server[1])
    assert addrs == {'127.0.0.1'}, f'the demo listens on {addrs}, not only on 127.0.0.1'

def test_offline(page, server):
    "Everything the page loaded (scripts, styles, fonts) came from the demo server."
    By = _by()
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(page, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, '#upload input[type=file]'))
    loaded = page.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(u.startswith(server[0]) for u in loaded), [u for u in loaded if not u.startswith(server[0])]

@pytest.mark.parametrize('name', ['boot.png', 'trousers.jpg'])
def test_top_class(page, files, name):
    d, truth, width = files
    text = upload(page, d/name, answer_text)
    assert text.split(' (')[0] == truth[name], text                   # "Ankle boot (95.0%)"
    top3 = page.find_element(_by().ID, 'top3').text
    assert top3.count('%') == 3 and truth[name] in top3, top3
    from selenium.webdriver.support.ui import WebDriverWait
    js = ("return ['photo', 'seen', 'cam'].map(i => { const im = document.querySelector('#' + i + ' img');"
          " return im ? [im.complete, im.naturalWidth] : null })")
    want = [[True, width[name]], [True, 224], [True, 224]]   # the photo as uploaded; the 28x28 image, Grad-CAM: 8x
    loaded = lambda p: (lambda v: v if all(i and i[0] for i in v) else None)(p.execute_script(js))
    imgs = WebDriverWait(page, 30).until(loaded)
    assert imgs == want, imgs

def test_not_an_image(page, files):
    d, *_ = files
    text = upload(page, d/'notes.png', answer_text)
    assert text == ('Error: Cannot read the image file notes.png (UnidentifiedImageError: cannot identify image file). '
                    'Accepted: any format PIL reads (PNG, JPEG, ...).'), text          # one line, the name once
    assert 'Traceback' not in page.find_element(_by().TAG_NAME, 'body').text

def test_oversized(page, files, server):
    d, *_ = files
    By = _by()
    body = lambda p: p.find_element(By.TAG_NAME, 'body').text
    msg = upload(page, d/'big.png', lambda p: 'exceed' in body(p) and body(p))
    assert f'File(s) exceed the maximum allowed size of {MAX_MB:.1f} Mb: "big.png"' in msg, msg
    assert not answer_text(page)                                      # nothing was analysed

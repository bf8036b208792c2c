// The notebooks as a researcher opens them: JupyterLab served from notebooks/ (the README's
// `.venv/bin/jupyter lab notebooks/`, so the kernel starts there), one notebook opened, Run All
// Cells, then screenshots of the top and the end. Needs Debian's chromium and npm's playwright-core:
//   apt-get install chromium && npm install --prefix /tmp/shot playwright-core@1.64.1
//   .venv/bin/jupyter lab notebooks/ --no-browser --port 8899 --ServerApp.token='' &
//   NODE_PATH=/tmp/shot/node_modules node scripts/jupyterlab_check.js \
//       http://localhost:8899/lab/tree/10_type_count_figure.ipynb reports/jupyterlab_check.png
// Prints each cell's prompt and any stderr / error output; exits non-zero if a cell never finishes.
const { chromium } = require('playwright-core');
(async () => {
  const [url, out] = [process.argv[2], process.argv[3]];
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(url);
  await page.waitForSelector('.jp-Notebook', { timeout: 120000 });
  await page.waitForSelector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', { timeout: 120000 }).catch(() => {});
  await page.waitForTimeout(5000);
  await page.click('.lm-MenuBar-itemLabel:text-is("Run")');
  await page.click('.lm-Menu-itemLabel:text-is("Run All Cells")');
  // wait until no cell shows [*] (running) and the last code cell has an execution count
  await page.waitForFunction(() => {
    const prompts = [...document.querySelectorAll('.jp-InputArea-prompt')].map(p => p.textContent.trim());
    return prompts.length > 0 && !prompts.some(p => p.includes('*')) && prompts.filter(p => /\[\d+\]/.test(p)).length >= 3;
  }, null, { timeout: 600000 });
  await page.waitForTimeout(2000);
  const errors = await page.$$eval('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], .jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]', els => els.map(e => e.textContent.slice(0, 300)));
  const prompts = await page.$$eval('.jp-InputArea-prompt', els => els.map(e => e.textContent.trim()));
  console.log(JSON.stringify({ prompts, errors }));
  await page.click('.jp-Notification-toast button:text-is("No")').catch(() => {});
  await page.screenshot({ path: out });
  await page.evaluate(() => {  // the last figure (or the last cell) into view
    const targets = [...document.querySelectorAll('.jp-RenderedImage img, .jp-Notebook .jp-Cell')];
    const img = [...document.querySelectorAll('.jp-RenderedImage img')].pop();
    (img || targets.pop()).scrollIntoView({ block: 'center' });
  });
  await page.waitForTimeout(1500);
  await page.screenshot({ path: out.replace(/\.png$/, '_end.png') });
  await browser.close();
})().catch(e => { console.error(e); process.exit(1); });

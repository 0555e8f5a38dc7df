/**
 * `npm run docs` (TypeDoc over ts/src/index.ts, typedoc.json) stays warning-free: every type a
 * public signature mentions is exported or listed in `intentionallyNotExported`, and every
 * `{@link}` resolves. Runs TypeDoc with `--emit none` (about 10 s): no HTML is written.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('API reference (typedoc)', () => {
  it('builds without warnings', async () => {
    const root = new URL('../..', import.meta.url);
    // The package's "exports" hides bin/, so the path is taken from the checkout's node_modules.
    const bin = new URL('node_modules/typedoc/bin/typedoc', root);
    const { stdout, stderr } = await run(process.execPath, [fileURLToPath(bin), '--emit', 'none', '--treatWarningsAsErrors'], { cwd: root });
    expect(`${stdout}${stderr}`).not.toMatch(/warning|error/i);
  }, 120_000);
});

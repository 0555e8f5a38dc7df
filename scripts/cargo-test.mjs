#!/usr/bin/env node
// Runs the crate's native tests (crate/tests/, #[cfg(test)] modules): `cargo test --release` at the
// repo root, with the first cargo that works:
//   1. rustup's (the active toolchain; RUSTUP_TOOLCHAIN is honoured): native tests need no wasm
//      target, so a plain rustup install is enough;
//   2. /usr/bin/cargo with /usr/bin/rustc (Debian's 1.63, which scripts/build-wasm.mjs may have
//      installed);
//   3. `cargo` on PATH.
// Each cargo is paired with its own rustc through RUSTC, so a rustup proxy first on PATH never
// mixes with Debian's cargo (or the other way round).
//
// Usage: node scripts/cargo-test.mjs [extra cargo test args, e.g. -- --nocapture]

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { ROOT, capture, which } from './proc.mjs';

const log = (msg) => console.log(`[cargo-test] ${msg}`);

/** Candidate {how, cargo, rustc} pairs, best first. */
function candidates() {
  const list = [];
  const rustup = which('rustup');
  if (rustup) {
    const cargo = capture(rustup, ['which', 'cargo']);
    const rustc = capture(rustup, ['which', 'rustc']);
    if (cargo.ok && rustc.ok) list.push({ how: 'rustup', cargo: cargo.stdout, rustc: rustc.stdout });
  }
  if (existsSync('/usr/bin/cargo') && existsSync('/usr/bin/rustc')) {
    list.push({ how: 'system', cargo: '/usr/bin/cargo', rustc: '/usr/bin/rustc' });
  }
  const pathCargo = which('cargo');
  if (pathCargo) {
    const beside = join(dirname(pathCargo), 'rustc');
    list.push({ how: 'PATH', cargo: pathCargo, rustc: existsSync(beside) ? beside : which('rustc') || 'rustc' });
  }
  return list;
}

const pick = candidates().find((c) => {
  const env = { ...process.env, RUSTC: c.rustc };
  return capture(c.cargo, ['--version'], { env }).ok && capture(c.rustc, ['--version'], { env }).ok;
});
if (!pick) {
  console.error(
    '\n[cargo-test] ERROR: no working cargo found (checked rustup, /usr/bin/cargo, cargo on PATH).\n' +
      'Install Rust with rustup (https://rustup.rs), or on Debian/Ubuntu: sudo apt-get install rustc cargo\n',
  );
  process.exit(1);
}

const env = { ...process.env, RUSTC: pick.rustc };
log(`${pick.how}: ${pick.cargo} (${capture(pick.cargo, ['--version'], { env }).stdout}), RUSTC=${pick.rustc} (${capture(pick.rustc, ['--version'], { env }).stdout})`);
const args = ['test', '--release', ...process.argv.slice(2)];
log(`cargo ${args.join(' ')}`);
const r = spawnSync(pick.cargo, args, { cwd: ROOT, env, stdio: 'inherit' });
if (r.error) {
  console.error(`[cargo-test] ERROR: could not run ${pick.cargo}: ${r.error.message}`);
  process.exit(1);
}
process.exit(r.status ?? 1);

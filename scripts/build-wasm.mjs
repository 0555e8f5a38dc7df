#!/usr/bin/env node
// Builds the two WebAssembly modules the TypeScript package loads (ts/src/wasm/loader.ts picks one
// at load with WebAssembly.validate):
//
//   wasm/fastgru-simd.wasm   cargo --target wasm32-unknown-unknown, RUSTFLAGS += -C target-feature=+simd128
//   wasm/fastgru.wasm        the same without simd128: the fallback, must validate without SIMD
//
// Each is built in its own target dir (target/wasm-simd, target/wasm-scalar) so the two builds
// never invalidate each other, then optimised by binaryen's wasm-opt (the `binaryen` devDependency,
// run with this Node: no native binaryen needed).
//
// Usage: node scripts/build-wasm.mjs [--force]
//   --force  rebuild even when wasm/*.wasm are newer than every input.
//
// Toolchain: the first Rust toolchain that HAS the wasm32-unknown-unknown std, in this order:
//   (a) rustup, if `rustup target list --installed` lists the target (RUSTUP_TOOLCHAIN and
//       rust-toolchain files are honoured, since rustup reads them itself);
//   (b) a rustc whose sysroot holds lib/rustlib/wasm32-unknown-unknown: $RUSTC, /usr/bin/rustc,
//       then `rustc` on PATH, each with the cargo beside it (Debian: rustc 1.63 + cargo +
//       libstd-rust-dev-wasm32, which is why Cargo.toml says rust-version = "1.63");
//   (c) as root on Debian/Ubuntu, apt-get install rustc cargo libstd-rust-dev-wasm32, then (b) again
//       (a fresh machine has rustup without the wasm target, and rustup cannot download it offline);
//   (d) otherwise fail, naming the commands that fix it.
// There is deliberately no environment variable that skips this build: a missing .wasm must fail
// here, loudly, not later in a test.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, delimiter, dirname, join, relative, resolve } from 'node:path';

import { ROOT, capture, which } from './proc.mjs';
const TARGET = 'wasm32-unknown-unknown';
// The [lib] name cargo gives the artifact: Cargo.toml `name = "fastgru"`.
const CRATE_ARTIFACT = 'fastgru.wasm';
const OUT_DIR = join(ROOT, 'wasm');

// One entry per module; `features` are the wasm features the module is meant to need beyond MVP.
const BUILDS = [
  { name: 'simd', out: 'fastgru-simd.wasm', rustflags: ['-C', 'target-feature=+simd128'], features: ['--enable-simd'] },
  { name: 'scalar', out: 'fastgru.wasm', rustflags: [], features: [] },
];

// wasm-opt flags. -O3 for speed. --strip-dwarf / --strip-producers drop debug info and the
// toolchain banner should cargo leave any (Cargo.toml's `strip = true` already drops them); a
// "name" section is kept when present, and exports are never touched.
const WASM_OPT = ['-O3', '--strip-dwarf', '--strip-producers'];

// Which wasm features wasm-opt may use. Cargo.toml's `strip = true` also drops rustc's
// target_features section, so wasm-opt cannot read them off the module: they are given here, the
// first set under which the module validates, so the optimiser never adds a feature the compiler
// did not use (binaryen's own default set is not MVP).
//   - rustc 1.63 (Debian, LLVM 14) emits plain MVP (+ simd128 when asked): the first set.
//   - newer rustc (e.g. a rustup toolchain) targets LLVM's newer "generic" CPU: sign-ext and
//     mutable-globals (LLVM 16+), then multivalue, reference-types, bulk-memory,
//     nontrapping-fptoint; its precompiled std carries them whatever RUSTFLAGS say: the second set.
//     Every engine with SIMD has all of them; the scalar fallback then needs them too.
const FEATURE_SETS = [
  ['--mvp-features'],
  [
    '--mvp-features',
    '--enable-sign-ext',
    '--enable-mutable-globals',
    '--enable-nontrapping-float-to-int',
    '--enable-bulk-memory',
    '--enable-bulk-memory-opt',
    '--enable-call-indirect-overlong',
    '--enable-multivalue',
    '--enable-reference-types',
  ],
];

const log = (msg) => console.log(`[build-wasm] ${msg}`);

function fail(msg) {
  console.error(`\n[build-wasm] ERROR: ${msg}\n`);
  process.exit(1);
}

function version(bin) {
  const r = capture(bin, ['--version']);
  return r.ok ? r.stdout.split('\n')[0] : '(version unknown)';
}

// ---------------------------------------------------------------------------------------------
// Toolchain detection

/** (a) rustup with the target installed for the active toolchain. */
function fromRustup() {
  const rustup = which('rustup');
  if (!rustup) return null;
  const installed = capture(rustup, ['target', 'list', '--installed']);
  if (!installed.ok || !installed.stdout.split('\n').includes(TARGET)) {
    const active = capture(rustup, ['show', 'active-toolchain']).stdout.split(' ')[0] || '?';
    log(`rustup found, but its active toolchain (${active}) has no ${TARGET} target`);
    return null;
  }
  const rustc = capture(rustup, ['which', 'rustc']);
  const cargo = capture(rustup, ['which', 'cargo']);
  if (!rustc.ok || !cargo.ok) return null;
  const active = capture(rustup, ['show', 'active-toolchain']).stdout.split(' ')[0];
  return { how: `rustup toolchain ${active}`, rustc: rustc.stdout, cargo: cargo.stdout };
}

/** Does this rustc's sysroot hold the wasm32 std? */
function hasWasmStd(rustc) {
  const r = capture(rustc, ['--print', 'sysroot']);
  return r.ok && existsSync(join(r.stdout, 'lib', 'rustlib', TARGET, 'lib'));
}

/**
 * rustc links wasm32 with `rust-lld`, looked up in the sysroot's host bin/ and then on PATH.
 * Debian's /usr/bin/rust-lld is a symlink to lld-14, which is only a Recommends of
 * libstd-rust-dev-wasm32: with --no-install-recommends it dangles. Returns null when found, else
 * the name of what is missing (the symlink's target when there is one, e.g. "lld-14").
 */
function missingLinker(rustc) {
  const sysroot = capture(rustc, ['--print', 'sysroot']).stdout;
  const host = (capture(rustc, ['-vV']).stdout.match(/^host: (.+)$/m) || [])[1];
  if (host && existsSync(join(sysroot, 'lib', 'rustlib', host, 'bin', 'rust-lld'))) return null;
  if (which('rust-lld')) return null;
  for (const dir of [join(sysroot, 'bin'), ...(process.env.PATH || '').split(delimiter)]) {
    try {
      return basename(readlinkSync(join(dir, 'rust-lld')));
    } catch {
      // no symlink here
    }
  }
  return 'rust-lld';
}

/** Set by fromSysroot when a rustc had the wasm32 std but no linker: {rustc, missing}. */
let linkerless = null;

/** (b) a plain rustc (Debian's, or any on PATH) whose sysroot has the target, with its cargo. */
function fromSysroot() {
  linkerless = null;
  const candidates = [process.env.RUSTC, '/usr/bin/rustc', 'rustc']
    .filter(Boolean)
    .map((c) => (c.includes('/') ? (existsSync(c) ? resolve(c) : null) : which(c)))
    .filter(Boolean);
  for (const rustc of [...new Set(candidates)]) {
    if (!hasWasmStd(rustc)) continue;
    const missing = missingLinker(rustc);
    if (missing) {
      log(`${rustc} has the ${TARGET} std but its linker rust-lld is missing (${missing})`);
      linkerless = { rustc, missing };
      continue;
    }
    // The cargo that ships with this rustc sits beside it (/usr/bin/cargo for /usr/bin/rustc).
    const beside = join(dirname(rustc), 'cargo');
    const cargo = existsSync(beside) ? beside : which('cargo');
    if (!cargo) continue;
    return { how: `rustc with ${TARGET} in its sysroot`, rustc, cargo };
  }
  return null;
}

const isDebianRoot = () =>
  existsSync('/etc/debian_version') && which('apt-get') !== null && process.getuid?.() === 0;

/** (c) apt-get install Debian's rustc + wasm32 std (root on Debian/Ubuntu only). */
function aptInstall() {
  // Recommends stay on: libstd-rust-dev-wasm32 recommends the lld that rust-lld points to.
  const pkgs = ['rustc', 'cargo', 'libstd-rust-dev-wasm32'];
  if (linkerless && linkerless.missing.startsWith('lld')) pkgs.push(linkerless.missing);
  log(`no Rust toolchain with ${TARGET} found; running as root on Debian/Ubuntu, so installing it:`);
  log(`  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${pkgs.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const opts = { stdio: ['ignore', 'inherit', 'inherit'], env };
  const up = spawnSync('apt-get', ['update'], opts);
  if (up.status !== 0) log('apt-get update failed; trying the install anyway');
  const inst = spawnSync('apt-get', ['install', '-y', ...pkgs], opts);
  return inst.status === 0;
}

function findToolchain() {
  const found = fromRustup() || fromSysroot();
  if (found) return found;
  if (isDebianRoot()) {
    if (aptInstall()) {
      const again = fromSysroot();
      if (again) return { ...again, how: `${again.how} (just installed with apt-get)` };
    }
  }
  const fixes = [];
  if (linkerless) {
    const pkg = linkerless.missing.startsWith('lld') ? linkerless.missing : 'lld';
    fixes.push(`  ${linkerless.rustc} lacks its wasm linker: sudo apt-get install ${pkg}`);
  }
  if (which('rustup')) fixes.push(`  rustup target add ${TARGET}`);
  else fixes.push('  install rustup (https://rustup.rs), then: rustup target add ' + TARGET);
  if (existsSync('/etc/debian_version')) {
    fixes.push('  or, on Debian/Ubuntu: sudo apt-get install rustc cargo libstd-rust-dev-wasm32');
  }
  fail(
    `no Rust toolchain with the ${TARGET} target was found.\n` +
      `Checked: rustup (target list --installed), $RUSTC, /usr/bin/rustc, rustc on PATH.\n` +
      `Fix it with one of:\n${fixes.join('\n')}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Up-to-date check

function newestMtime(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

function upToDate() {
  const outs = BUILDS.map((b) => join(OUT_DIR, b.out));
  if (!outs.every(existsSync)) return false;
  const oldestOut = Math.min(...outs.map((p) => statSync(p).mtimeMs));
  // Inputs: the crate, its manifest and lock, and this script (its flags shape the output).
  const inputs = ['crate', 'Cargo.toml', 'Cargo.lock', 'scripts/build-wasm.mjs'].map((p) => join(ROOT, p));
  return inputs.every((p) => newestMtime(p) < oldestOut);
}

// ---------------------------------------------------------------------------------------------
// Build

/** Runs a command, prefixing each output line with [tag]; resolves to its exit code. */
function runPrefixed(tag, cmd, args, env) {
  return new Promise((resolveRun) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const pipe = (stream, out) => {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (d) => {
        buf += d;
        const lines = buf.split('\n');
        buf = lines.pop();
        for (const l of lines) out.write(`[${tag}] ${l}\n`);
      });
      stream.on('end', () => buf && out.write(`[${tag}] ${buf}\n`));
    };
    pipe(child.stdout, process.stdout);
    pipe(child.stderr, process.stderr);
    child.on('error', (e) => {
      process.stderr.write(`[${tag}] ${e.message}\n`);
      resolveRun(1);
    });
    child.on('close', (code) => resolveRun(code ?? 1));
  });
}

/** The environment for one cargo build: RUSTC pinned, the user's RUSTFLAGS kept, ours appended. */
function cargoEnv(tc, flags) {
  const env = { ...process.env, RUSTC: tc.rustc };
  if (env.CARGO_ENCODED_RUSTFLAGS !== undefined) {
    // Cargo ignores RUSTFLAGS when this is set, so append there instead (\x1f separates flags).
    env.CARGO_ENCODED_RUSTFLAGS = [env.CARGO_ENCODED_RUSTFLAGS, ...flags].filter(Boolean).join('\x1f');
  } else {
    env.RUSTFLAGS = [env.RUSTFLAGS, ...flags].filter(Boolean).join(' ');
  }
  return env;
}

function wasmOptPath() {
  const require = createRequire(import.meta.url);
  let dir;
  try {
    dir = dirname(require.resolve('binaryen/package.json', { paths: [ROOT] }));
  } catch {
    dir = join(ROOT, 'node_modules', 'binaryen');
  }
  const p = join(dir, 'bin', 'wasm-opt');
  if (!existsSync(p)) fail(`binaryen's wasm-opt not found at ${p}: run \`npm install\` first (binaryen is a devDependency).`);
  return p;
}

/** Where cargo leaves a build's module, relative to ROOT. */
const cargoOutput = (b) => join('target', `wasm-${b.name}`, TARGET, 'release', CRATE_ARTIFACT);

/** Does binaryen's validator accept this module with exactly these features? */
function validatesWith(file, featureFlags) {
  return capture(process.execPath, [wasmOptPath(), file, '-q', ...featureFlags]).ok;
}

/** The first of FEATURE_SETS (+ the build's own features) under which the module validates. */
function chooseFeatures(b, file) {
  for (const set of FEATURE_SETS) {
    const flags = [...set, ...b.features];
    if (validatesWith(file, flags)) return flags;
  }
  const last = [...FEATURE_SETS[FEATURE_SETS.length - 1], ...b.features];
  const r = capture(process.execPath, [wasmOptPath(), file, ...last]);
  const hint = b.features.includes('--enable-simd') ? '' : ' (SIMD here means +simd128 reached the scalar build: check RUSTFLAGS)';
  fail(`${file} uses wasm features beyond ${last.join(' ')}${hint}:\n${(r.stderr || r.stdout).split('\n').slice(0, 12).join('\n')}`);
}

const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;

async function build() {
  const tc = findToolchain();
  log(`toolchain: ${tc.how}`);
  log(`  rustc: ${tc.rustc} (${version(tc.rustc)})`);
  log(`  cargo: ${tc.cargo} (${version(tc.cargo)})`);

  // The two builds run at once (with lto + codegen-units = 1 each is mostly one core), so make the
  // lock file first rather than have both write it. No dependencies: nothing is downloaded.
  if (!existsSync(join(ROOT, 'Cargo.lock'))) {
    const lock = capture(tc.cargo, ['generate-lockfile', '--offline'], { env: cargoEnv(tc, []) });
    if (!lock.ok) fail(`cargo generate-lockfile failed:\n${lock.stderr}`);
  }
  const t0 = Date.now();
  const codes = await Promise.all(
    BUILDS.map((b) => {
      const args = ['build', '--release', '--lib', '--target', TARGET, '--target-dir', join('target', `wasm-${b.name}`)];
      const env = cargoEnv(tc, b.rustflags);
      const flags = env.CARGO_ENCODED_RUSTFLAGS !== undefined
        ? `CARGO_ENCODED_RUSTFLAGS="${env.CARGO_ENCODED_RUSTFLAGS.split('\x1f').join(' ')}"`
        : `RUSTFLAGS="${env.RUSTFLAGS}"`;
      log(`[${b.name}] ${flags} cargo ${args.join(' ')}`);
      return runPrefixed(b.name, tc.cargo, args, env);
    }),
  );
  codes.forEach((code, i) => {
    if (code !== 0) fail(`cargo build (${BUILDS[i].name}) failed with exit code ${code}; see the output above.`);
  });
  log(`cargo builds done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  mkdirSync(OUT_DIR, { recursive: true });
  const t1 = Date.now();
  for (const b of BUILDS) {
    b.featureFlags = chooseFeatures(b, cargoOutput(b));
    log(`[${b.name}] features: ${b.featureFlags.join(' ')}`);
  }
  const optCodes = await Promise.all(
    BUILDS.map((b) => {
      const args = [cargoOutput(b), ...WASM_OPT, ...b.featureFlags, '-o', join('wasm', b.out)];
      log(`[${b.name}] wasm-opt ${args.join(' ')}`);
      return runPrefixed(b.name, process.execPath, [wasmOptPath(), ...args], process.env);
    }),
  );
  optCodes.forEach((code, i) => {
    if (code !== 0) fail(`wasm-opt (${BUILDS[i].name}) failed with exit code ${code}; see the output above.`);
  });
  log(`wasm-opt done in ${((Date.now() - t1) / 1000).toFixed(1)} s`);

  for (const b of BUILDS) {
    const raw = statSync(join(ROOT, cargoOutput(b))).size;
    const opt = statSync(join(OUT_DIR, b.out)).size;
    log(`wasm/${b.out}: ${kib(opt)} (cargo output ${kib(raw)})`);
  }
}

/**
 * Checks both modules: each must pass WebAssembly.validate in this Node and both must export the
 * same names; the scalar one must also validate with SIMD off, i.e. under one of FEATURE_SETS
 * (binaryen's validator: Node 20 has no flag to turn SIMD off).
 */
function verify() {
  const modules = BUILDS.map((b) => ({ ...b, bytes: readFileSync(join(OUT_DIR, b.out)) }));
  for (const m of modules) {
    if (!WebAssembly.validate(m.bytes)) fail(`wasm/${m.out} does not pass WebAssembly.validate in Node ${process.version}.`);
    m.exports = WebAssembly.Module.exports(new WebAssembly.Module(m.bytes)).map((e) => e.name).sort();
  }
  log(`WebAssembly.validate (Node ${process.version}): ${modules.map((m) => `${m.out} ok`).join(', ')}`);

  const [simd, scalar] = modules;
  if (simd.exports.join() !== scalar.exports.join()) {
    fail(`the two modules export different names:\n  ${simd.out}: ${simd.exports.join(', ')}\n  ${scalar.out}: ${scalar.exports.join(', ')}`);
  }
  log(`exports (${scalar.exports.length}): ${scalar.exports.join(', ')}`);

  const noSimd = FEATURE_SETS.find((set) => validatesWith(join('wasm', scalar.out), set));
  if (!noSimd) fail(`wasm/${scalar.out} does not validate without SIMD: the scalar build must not use it. Is +simd128 in your RUSTFLAGS?`);
  log(`wasm/${scalar.out} validates without SIMD (${noSimd.join(' ')}): ok`);
}

// ---------------------------------------------------------------------------------------------

const force = process.argv.includes('--force');
if (!force && upToDate()) {
  log(`wasm/${BUILDS.map((b) => b.out).join(', wasm/')} are newer than crate/, Cargo.toml and this script: skipping the rebuild (--force rebuilds).`);
} else {
  await build();
}
verify();
log(`done: ${BUILDS.map((b) => relative(ROOT, join(OUT_DIR, b.out))).join(', ')}`);

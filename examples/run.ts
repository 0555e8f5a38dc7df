/**
 * Runs one example: `npm run example -- NAME [--small] [--epochs N]`, NAME one of
 * sentiment, co2, custom-cell. Prints the example's progress, then the numbers it returns (the
 * ones test/examples/examples.test.ts checks) and the wall time. (`npm run demo` is demo.ts: co2
 * with charts.)
 */
import type { ExampleOptions } from './util.ts';

type Example = { run(options: ExampleOptions): Promise<Record<string, number>> };

const EXAMPLES: Record<string, () => Promise<Example>> = {
  sentiment: () => import('./sentiment.ts'),
  co2: () => import('./co2.ts'),
  'custom-cell': () => import('./custom-cell.ts'),
};

async function main(argv: string[]): Promise<void> {
  const name = argv.find((a) => !a.startsWith('--'));
  const small = argv.includes('--small');
  const e = argv.indexOf('--epochs');
  const epochs = e >= 0 ? Number(argv[e + 1]) : undefined;
  if (!name || !(name in EXAMPLES) || (epochs !== undefined && !(Number.isInteger(epochs) && epochs > 0))) {
    console.error(`usage: npm run example -- NAME [--small] [--epochs N]   (NAME: ${Object.keys(EXAMPLES).join(', ')})`);
    process.exitCode = 2;
    return;
  }
  const started = Date.now();
  const result = await (await EXAMPLES[name]()).run({ small, epochs });
  console.log(`\n${name}${small ? ' (small)' : ''}: ${((Date.now() - started) / 1000).toFixed(1)} s wall time`);
  for (const [k, v] of Object.entries(result)) console.log(`  ${k.padEnd(26)} ${Number.isInteger(v) ? v : v.toPrecision(6)}`);
}

await main(process.argv.slice(2));

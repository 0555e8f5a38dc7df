import { defineConfig } from 'vitest/config';

// Tests import the TypeScript sources directly (`../../ts/src/index.ts`); the source loader then
// reads wasm/*.wasm, which `npm install` (prepare -> build) has built.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // Each test file in a child process (vitest 3's default, pinned), as in a plain `node` run.
    pool: 'forks',
    // Reference and gradient-check tests run real training steps; FAST_TEST shrinks their grids.
    testTimeout: 60_000,
  },
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'src/**/*.test.ts',
            'hub/**/*.test.ts',
            'firmware-sim/**/*.test.ts',
            'cli/**/*.test.ts',
            'hil/**/*.test.ts',
            'bench/**/*.test.ts',
          ],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Integration tests open real sockets and child processes; keep them from starving each other on 2 cores.
          fileParallelism: false,
        },
      },
    ],
  },
});

import { describeMatrixRow } from './matrix.js';

// The newest tRPC 11 on the registry, with the oldest and newest zod 4, and the newest zod 3 (its bundled zod 4, `zod/v4`).
describeMatrixRow({ trpc: '^11', zod: '4.0.0', ws: '^8' });
describeMatrixRow({ trpc: '^11', zod: '^4', ws: '^8', engines: 'newest' });
describeMatrixRow({ trpc: '^11', zod: '^3.25.76', ws: '^8', zodImport: 'zod/v4' });

import { describeMatrixRow } from './matrix.js';

// What the newest @trpc/tanstack-react-query (11.22.1) requires exactly, with the oldest and newest zod 4,
// and zod 3.25.76 (its bundled zod 4, imported as `zod/v4`; earlier 3.25 releases ship zod/v4 declarations
// that fail without skipLibCheck, TS2636, and 3.25.0 a broken zod/v4 ESM build).
describeMatrixRow({ trpc: '11.22.1', zod: '4.0.0', ws: '^8', tanstack: true, upstreamTrpcWsTypes: true });
describeMatrixRow({ trpc: '11.22.1', zod: '^4', ws: '^8', tanstack: true, upstreamTrpcWsTypes: true });
describeMatrixRow({ trpc: '11.22.1', zod: '3.25.76', ws: '^8', zodImport: 'zod/v4', upstreamTrpcWsTypes: true });

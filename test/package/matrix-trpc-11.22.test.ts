import { describeMatrixRow } from './matrix.js';

// What the newest @trpc/tanstack-react-query (11.22.1) requires exactly, with the oldest and newest zod 4,
// and the oldest zod 3.25 we claim (its bundled zod 4, imported as `zod/v4`).
describeMatrixRow({ trpc: '11.22.1', zod: '4.0.0', ws: '^8', tanstack: true, upstreamTrpcWsTypes: true });
describeMatrixRow({ trpc: '11.22.1', zod: '^4', ws: '^8', tanstack: true, upstreamTrpcWsTypes: true });
describeMatrixRow({ trpc: '11.22.1', zod: '3.25.1', ws: '^8', zodImport: 'zod/v4', upstreamTrpcWsTypes: true });

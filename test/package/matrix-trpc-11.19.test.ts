import { describeMatrixRow } from './matrix.js';

// The oldest tRPC we claim (what @trpc/react-query and @trpc/next are at), with the oldest and newest zod 4.
describeMatrixRow({ trpc: '11.19.0', zod: '4.0.0', ws: '8.17.1', engines: 'oldest', upstreamTrpcWsTypes: true });
describeMatrixRow({ trpc: '11.19.0', zod: '^4', ws: '^8', upstreamTrpcWsTypes: true });
